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
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "Installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
