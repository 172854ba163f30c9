#!/usr/bin/env bash
# Runs every test against Azurite: the one ./run.sh started if it is up, otherwise a fresh one that
# is stopped again when the tests end. Extra arguments go to `dotnet test` (e.g. --filter).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error

data="$(mktemp -d)"
started="$(scripts/azurite.sh start "$data")"
cleanup() {
  [ "$started" = reused ] || scripts/azurite.sh stop "$started"
  rm -rf "$data"
}
trap cleanup EXIT

export AzureWebJobsStorage="UseDevelopmentStorage=true"
dotnet test QrFunctions.sln -c Release --logger "console;verbosity=normal" "$@"
