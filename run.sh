#!/usr/bin/env bash
# Runs the service locally on http://127.0.0.1:${PORT:-7071} against Azurite (data kept in .local/azurite),
# seeds a development organization once and prints its credentials (also in .local/dev-credentials.json).
# With Azure Functions Core Tools on the PATH it runs under the real Functions host (`func start`); without them
# (these machines, CI) it runs the development server: the same [Function] classes on Kestrel, queues polled locally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export PORT="${PORT:-7071}"

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error
mkdir -p .local
started="$(scripts/azurite.sh start .local/azurite)"
cleanup() { [ "$started" = reused ] || scripts/azurite.sh stop "$started"; }
trap cleanup EXIT INT TERM

dotnet build functions/QrFunctions -c Debug -v quiet -nologo
export AzureWebJobsStorage="UseDevelopmentStorage=true"
export QrFunctions__PublicBaseUrl="http://127.0.0.1:${PORT}/"
export QrFunctions__DevEndpoints=true   # GET /api/dev/outbox?email=… lists the mails the service "sent"
# Webhook signing secrets are stored encrypted (docs/webhooks.md): a development key, made once for this checkout
# (32 random bytes, git-ignored in .local/), never a production one.
[ -s .local/webhook-secret-key ] || (umask 077 && head -c 32 /dev/urandom | base64 > .local/webhook-secret-key)
export Webhooks__SecretKeys__dev="$(cat .local/webhook-secret-key)"
export Webhooks__SecretKeyId=dev
app=functions/QrFunctions/bin/Debug/net10.0/QrFunctions
"$app" dev-seed --out .local/dev-credentials.json
echo
if command -v func >/dev/null 2>&1; then
  echo "Running under the Azure Functions host: func start (Core Tools $(func --version 2>/dev/null || echo '?'))"
  [ -f functions/QrFunctions/local.settings.json ] || cp local.settings.sample.json functions/QrFunctions/local.settings.json
  run=(bash -c "cd functions/QrFunctions && exec func start --port $PORT")
else
  echo "Functions Core Tools (func) not found: running the development server (the same functions on Kestrel, queues polled locally)"
  run=("$app")
fi
echo "Service: http://127.0.0.1:${PORT}/   OpenAPI: http://127.0.0.1:${PORT}/openapi/v1.json"
echo "Credentials above are also in .local/dev-credentials.json. Ctrl-C stops the service and Azurite."
"${run[@]}" &
service=$!
trap 'kill $service 2>/dev/null; wait $service 2>/dev/null; cleanup' EXIT INT TERM
wait $service
