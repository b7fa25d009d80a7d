#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test.
# The integration and e2e tests' PostgreSQL is started and stopped by ctest
# itself (the "postgres" fixture in tests/integration), on a free loopback
# port. Extra arguments go to ctest, e.g. scripts/test.sh -L unit
#
# When CI is set (or WEBHOOKS_SANITIZE=1), the tests are then built again
# with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ and run
# once more (about three more minutes on two cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
# Tests on explicitly: scripts/run.sh configures the same build/ without them,
# and CMake's cache would keep that.
"$root/scripts/build.sh" -DWEBHOOKS_BUILD_TESTS=ON
ctest --test-dir "$root/build" --output-on-failure --no-tests=error --timeout 300 \
  -j "$(nproc)" "$@"

if [[ -n "${CI:-}" || "${WEBHOOKS_SANITIZE:-}" == 1 ]]; then
  echo "--- the same tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  werror=OFF
  [[ -n "${CI:-}" ]] && werror=ON
  cmake -S "$root" -B "$root/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DWEBHOOKS_SANITIZE=ON -DWEBHOOKS_WERROR="$werror" >/dev/null
  cmake --build "$root/build-asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
    ctest --test-dir "$root/build-asan" --output-on-failure --no-tests=error --timeout 600 \
    -j "$(nproc)" "$@"
fi
