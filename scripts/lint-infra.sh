#!/usr/bin/env bash
# Builds and lints every Bicep file with the Bicep CLI from NuGet; fails on any warning or error
# (bicep lint exits 0 on warnings, so its output is checked too). Offline: only local modules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dotnet restore tools/bicep/bicep.proj -v quiet >/dev/null
version="$(sed -n 's/.*Include="Azure.Bicep.CommandLine.linux-x64" Version="\([^"]*\)".*/\1/p' Directory.Packages.props)"
bicep="${NUGET_PACKAGES:-$HOME/.nuget/packages}/azure.bicep.commandline.linux-x64/$version/tools/bicep"
chmod +x "$bicep"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
log="$out/log"
"$bicep" build infra/main.bicep --outdir "$out" >"$log" 2>&1 || status=$?
for f in $(find infra -name '*.bicep' | sort); do
  "$bicep" lint "$f" >>"$log" 2>&1 || status=$?
done
cat "$log"
if [ "$status" -ne 0 ] || grep -qiE 'warning|error' "$log"; then
  echo "infra: Bicep build/lint reported problems" >&2
  exit 1
fi
echo "infra: every Bicep file builds and lints clean ($(find infra -name '*.bicep' | wc -l) files)"
