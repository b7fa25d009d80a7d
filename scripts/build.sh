#!/usr/bin/env bash
# Configures and builds into build/ (Ninja). Extra arguments go to cmake.
# -Werror is on when CI is set (as CI runners set it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
werror=OFF
[[ -n "${CI:-}" ]] && werror=ON
cmake -S "$root" -B "$root/build" -G Ninja -DWEBHOOKS_WERROR="$werror" "$@" >/dev/null
cmake --build "$root/build"
