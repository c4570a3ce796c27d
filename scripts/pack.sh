#!/usr/bin/env bash
# Packs the kit as LlmFp4.Kit.<version>.nupkg into artifacts/packages, the local feed the notebooks' first cell names:
#   #i "nuget: ../artifacts/packages"
#   #r "nuget: LlmFp4.Kit, <version>"
# The version comes from Directory.Build.props (<Version>); the notebooks ask for the same one.
set -euo pipefail
cd "$(dirname "$0")/.."
feed=artifacts/packages
dotnet pack src/LlmFp4.Kit -c Release -o "$feed" "$@"
ls -l "$feed"/LlmFp4.Kit.*.nupkg
