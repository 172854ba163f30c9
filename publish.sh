#!/usr/bin/env bash
# Builds what Azure Functions (Flex Consumption) deploys: artifacts/qrfunctions.zip with host.json and one
# folder per function at the root, next to the self-contained linux-x64 executable QrFunctions
# (ReadyToRun-compiled for a short cold start; its execute bit is kept inside the zip).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out="${1:-artifacts}"
rm -rf "$out/publish" "$out/qrfunctions.zip"
dotnet publish functions/QrFunctions -c Release -r linux-x64 --self-contained true \
  -p:PublishReadyToRun=true -p:DebugType=none -o "$out/publish" -v quiet -nologo
# host.json and function.json files come from the app's own route table, never by hand.
AzureWebJobsStorage="UseDevelopmentStorage=true" "$out/publish/QrFunctions" functions-manifest "$out/publish" >/dev/null
chmod +x "$out/publish/QrFunctions"
(cd "$out/publish" && zip -qr -X ../qrfunctions.zip .)
echo "$out/qrfunctions.zip"
