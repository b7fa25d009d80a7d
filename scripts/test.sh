#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test.
# The integration tests' PostgreSQL is started and stopped by ctest itself
# (the "postgres" fixture in tests/integration), on a free loopback port.
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure --timeout 300 -j "$(nproc)" "$@"
