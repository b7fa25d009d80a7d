#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds, runs and tests with.
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

packages=(
  # build
  cmake ninja-build pkg-config g++ ccache
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libpqxx-dev prometheus-cpp-dev libcurl4-openssl-dev libssl-dev
  # tests
  libgtest-dev libgmock-dev libcpp-httplib-dev
  # tests/unit/docs runs the guide's signature verifiers in Python and Node.js;
  # tests/deploy parses the rendered Kubernetes manifests
  python3 nodejs python3-yaml
  # the database, and tools the scripts use
  postgresql-15 postgresql-client-15 openssl ca-certificates
)

# kubectl renders the manifests (kubectl kustomize). Where none is installed,
# Debian's; never beside another kubectl, which Debian's would conflict with.
command -v kubectl >/dev/null || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "Installing: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# promtool, from Debian's prometheus package, checks the alert rules
# (tests/deploy/check_alerts.py). Only the tool is taken, unpacked into
# .cache/tools: installing the package would also start a Prometheus server.
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.cache/tools"
if ! command -v promtool >/dev/null && [[ ! -x "$tools/usr/bin/promtool" ]]; then
  echo "Unpacking promtool into $tools" >&2
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  if ! (cd "$download" && apt-get download -qq prometheus 2>/dev/null); then
    "${sudo[@]}" apt-get update -qq
    (cd "$download" && apt-get download -qq prometheus)
  fi
  dpkg -x "$download"/prometheus_*.deb "$download/x"
  install -D -m 0755 "$download/x/usr/bin/promtool" "$tools/usr/bin/promtool"
fi
