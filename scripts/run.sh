#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the service in
# the foreground against a throwaway PostgreSQL in .local/pg (or the server
# WEBHOOKS_DATABASE_URL names). Ctrl-C stops everything it started; the data
# and the development secrets in .local/ are kept for the next run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" -DWEBHOOKS_BUILD_TESTS=OFF
mkdir -p "$state"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${started_pg:-}" ]] && "$root/scripts/pg.sh" stop "$state/pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${WEBHOOKS_DATABASE_URL:-}" ]]; then
  server_url=$("$root/scripts/pg.sh" start "$state/pg")
  started_pg=1
  if [[ -z $(psql "$server_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'webhooks'") ]]; then
    psql "$server_url" -qc "CREATE DATABASE webhooks"
  fi
  export WEBHOOKS_DATABASE_URL="${server_url%/postgres}/webhooks"
fi

# Development secrets, made once. Real deployments bring their own.
if [[ ! -f "$state/sealing.key" ]]; then
  (umask 077 && openssl rand -base64 32 > "$state/sealing.key")
fi
if [[ ! -f "$state/api_tokens" ]]; then
  (umask 077 && echo "dev $(openssl rand -hex 24) *" > "$state/api_tokens")
fi
export WEBHOOKS_SEALING_KEY_FILE="$state/sealing.key"
export WEBHOOKS_API_TOKENS_FILE="$state/api_tokens"
export WEBHOOKS_GRPC_ADDR="${WEBHOOKS_GRPC_ADDR:-127.0.0.1:50051}"

"$root/build/services/api/webhooks-api" migrate

cat <<BANNER

  webhooks-api   grpc://$WEBHOOKS_GRPC_ADDR  (reflection on)
  database       $WEBHOOKS_DATABASE_URL
  API token      $(awk '{print $2}' "$state/api_tokens")   (any tenant; from .local/api_tokens)

  Try:  npx -y @bufbuild/buf curl --protocol grpc --http2-prior-knowledge \\
          -H "authorization: Bearer \$(awk '{print \$2}' .local/api_tokens)" \\
          -d '{"tenant_id":"demo"}' \\
          http://$WEBHOOKS_GRPC_ADDR/webhooks.v1.SubscriptionService/ListSubscriptions

BANNER

"$root/build/services/api/webhooks-api" serve &
pids+=($!)
wait -n "${pids[@]}"
