#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the service in
# the foreground: webhooks-api, webhooks-worker and, for trying it out, a
# development HTTPS receiver that prints what it gets. PostgreSQL is a
# throwaway cluster in .local/pg unless WEBHOOKS_DATABASE_URL names a server.
# Ctrl-C stops everything it started; the data and the development secrets in
# .local/ are kept for the next run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local"
bin="$root/build/services"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" -DWEBHOOKS_BUILD_TESTS=OFF
mkdir -p "$state"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "${started_pg:-}" ]]; then "$root/scripts/pg.sh" stop "$state/pg"; fi
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

# Development secrets and TLS material, made once. Real deployments bring
# their own.
if [[ ! -f "$state/sealing.key" ]]; then
  (umask 077 && openssl rand -base64 32 > "$state/sealing.key")
fi
if [[ ! -f "$state/api_tokens" ]]; then
  (umask 077 && echo "dev $(openssl rand -hex 24) *" > "$state/api_tokens")
fi
tls="$state/tls"
if [[ ! -f "$tls/server.pem" ]]; then
  mkdir -p "$tls"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=webhooks dev CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tls/san.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 3650 -extfile "$tls/san.ext" -out "$tls/server.pem" 2>/dev/null
  )
fi
# The worker trusts the system's CAs plus the development CA.
cat /etc/ssl/certs/ca-certificates.crt "$tls/ca.pem" > "$tls/bundle.pem" 2>/dev/null ||
  cp "$tls/ca.pem" "$tls/bundle.pem"

export WEBHOOKS_SEALING_KEY_FILE="$state/sealing.key"
export WEBHOOKS_API_TOKENS_FILE="$state/api_tokens"
export WEBHOOKS_GRPC_ADDR="${WEBHOOKS_GRPC_ADDR:-127.0.0.1:50051}"
receiver_port="${WEBHOOKS_DEV_RECEIVER_PORT:-8443}"

# listening PORT: true when something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Each port this script serves on, the process that wants it and the variable
# that moves it. A port in use (often: an earlier run still going) stops the
# script here, before anything starts, with a message that says which.
ports=("${WEBHOOKS_GRPC_ADDR##*:}" webhooks-api WEBHOOKS_GRPC_ADDR
  9464 "webhooks-api metrics" ""
  9465 "webhooks-worker metrics" ""
  "$receiver_port" "the development receiver" WEBHOOKS_DEV_RECEIVER_PORT)
for ((i = 0; i < ${#ports[@]}; i += 3)); do
  if listening "${ports[i]}"; then
    how="stop what holds it"
    [[ -n ${ports[i + 2]} ]] && how+=", or set ${ports[i + 2]} to move ${ports[i + 1]}"
    echo "run.sh: port ${ports[i]} (for ${ports[i + 1]}) is already in use; $how." >&2
    exit 1
  fi
done

"$bin/api/webhooks-api" migrate

# Development only, as for the worker below: SendTestEvent may call the
# loopback receiver and trusts the development CA.
WEBHOOKS_CA_BUNDLE="$tls/bundle.pem" WEBHOOKS_ALLOW_CIDRS="127.0.0.0/8,::1/128" \
  "$bin/api/webhooks-api" serve --metrics_addr=127.0.0.1:9464 &
pids+=($!)
# Development only: the receiver is on loopback, which the SSRF guard refuses
# unless allowed.
WEBHOOKS_CA_BUNDLE="$tls/bundle.pem" WEBHOOKS_ALLOW_CIDRS="127.0.0.0/8,::1/128" \
  "$bin/worker/webhooks-worker" --metrics_addr=127.0.0.1:9465 &
pids+=($!)
"$bin/dev_receiver/webhooks-dev-receiver" --cert="$tls/server.pem" --key="$tls/server.key" \
  --port="$receiver_port" &
pids+=($!)

# The banner only once everything listens; a process that exits first (it
# printed why above) stops the script.
names=(webhooks-api webhooks-worker "the development receiver")
for ((i = 0; i < ${#ports[@]}; i += 3)); do
  for ((t = 0; ; t++)); do
    listening "${ports[i]}" && break
    for j in "${!pids[@]}"; do
      if ! kill -0 "${pids[j]}" 2>/dev/null; then
        echo "run.sh: ${names[j]} exited before it was ready (its message is above)." >&2
        exit 1
      fi
    done
    if ((t >= 300)); then
      echo "run.sh: nothing listens on port ${ports[i]} (${ports[i + 1]}) after 30 s." >&2
      exit 1
    fi
    sleep 0.1
  done
done

cat <<BANNER

  webhooks-api      grpc://$WEBHOOKS_GRPC_ADDR (reflection on), metrics http://127.0.0.1:9464/metrics
  webhooks-worker   metrics http://127.0.0.1:9465/metrics, /healthz, /readyz
  dev receiver      https://localhost:$receiver_port/  (prints each webhook below)
  database          $WEBHOOKS_DATABASE_URL
  API token         in .local/api_tokens (any tenant)

  Walkthrough, in another terminal (see README.md):
    export WEBHOOKS_API_TOKEN=\$(awk '{print \$2}' .local/api_tokens)
    build/services/ctl/webhooksctl CreateSubscription '{"tenant_id":"demo","subscription":{
      "target_url":"https://localhost:$receiver_port/hook","event_types":["engagement_dispatched"]}}'
    build/services/ctl/webhooksctl PublishEvent '{"tenant_id":"demo","event":{
      "type":"engagement_dispatched","occurred_at":"2026-11-26T14:03:11.512Z",
      "engagement":{"yess_id":"eng_1","channel":"email","action":"new_thread_email"}}}'

BANNER

wait -n "${pids[@]}"
