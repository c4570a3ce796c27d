#!/usr/bin/env bash
# Packs the kit as artifacts/packages/LlmFp4.Kit.<version>.nupkg (the version is Directory.Build.props' <Version>) and
# registers that folder as the user-level NuGet source "llmfp4-local", so the first cell of every notebook,
#   #r "nuget: LlmFp4.Kit, <version>"
# restores it in Jupyter, Polyglot Notebooks and file-based apps as if it came from nuget.org.
# Safe to run again: it repacks, re-registers the source and drops the previously restored copy of this version.
# Undo: dotnet nuget remove source llmfp4-local
set -euo pipefail
cd "$(dirname "$0")/.."
feed="$PWD/artifacts/packages"
source_name=llmfp4-local

# The package carries plotly.js (package-lock.json pins it) so notebook figures draw offline.
[ -f node_modules/plotly.js-dist-min/plotly.min.js ] || npm ci --no-audit --no-fund --loglevel=error
dotnet pack src/LlmFp4.Kit -c Release -o "$feed" "$@"

# NuGet reuses a restored package of the same version from its global packages folder; drop it so restores take this build.
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
global_packages=$(dotnet nuget locals global-packages --list | sed 's/^[^:]*: *//')
rm -rf "${global_packages%/}/llmfp4.kit/$version"

dotnet nuget remove source "$source_name" >/dev/null 2>&1 || true
dotnet nuget add source "$feed" --name "$source_name" >/dev/null
echo "LlmFp4.Kit $version packed into $feed (NuGet source '$source_name'; undo: dotnet nuget remove source $source_name)"
