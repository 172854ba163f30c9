#!/usr/bin/env bash
# Builds what Azure Functions (Flex Consumption, runtime dotnet-isolated 10.0) deploys: the `dotnet publish` output of
# the isolated worker for linux-x64 (ReadyToRun, framework-dependent: Flex provides .NET 10) with the SDK-generated
# functions.metadata, worker.config.json, extensions.json and .azurefunctions/, zipped as artifacts/qrfunctions.zip.
# The executable QrFunctions in it also runs the operator commands (its execute bit is kept inside the zip).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out="${1:-artifacts}"
rm -rf "$out/publish" "$out/qrfunctions.zip"
dotnet publish functions/QrFunctions -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -p:DebugType=none -o "$out/publish" -v quiet -nologo
for f in functions.metadata worker.config.json extensions.json host.json .azurefunctions QrFunctions; do
  [ -e "$out/publish/$f" ] || { echo "publish.sh: $f is missing from the published app" >&2; exit 1; }
done
chmod +x "$out/publish/QrFunctions"
(cd "$out/publish" && zip -qr -X ../qrfunctions.zip .)
echo "$out/qrfunctions.zip"
