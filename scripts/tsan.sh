#!/usr/bin/env bash
# Builds the tests of the code that runs threads (those marked THREADS in
# tests/: the worker, the transport, the database pool, the delivery waker,
# the metrics endpoint, the project's Mutex) with ThreadSanitizer into
# build-tsan/, and runs them. Any data race, lock-order inversion or misuse
# of a lock fails the run, with both stacks printed. The code synchronises
# through lib/common/mutex.h, which TSan sees (Debian's abseil is not
# instrumented, so absl::Mutex would read as races); tests/tsan.supp ignores
# only what happens inside the tests' uninstrumented HTTP server library.
# Extra arguments go to ctest, e.g. scripts/tsan.sh -R WorkerTest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TSAN_BUILD_DIR:-$root/build-tsan}

# absl's own locks, events and barriers would hide every hand-off from TSan:
# keep them out of the code for good, not only out of the code tested here.
cd "$root"
status=0
git grep -nE 'absl::(Mutex|MutexLock|ReaderMutexLock|WriterMutexLock|CondVar|Notification|BlockingCounter|Barrier)\b|absl/synchronization/' \
  -- lib services tests ':!lib/common/mutex.h' || status=$?
if [[ $status -eq 0 ]]; then
  echo "tsan: use lib/common/mutex.h (or std::latch) instead of absl's synchronisation above: TSan cannot see it" >&2
  exit 1
elif [[ $status -ne 1 ]]; then
  echo "tsan: git grep failed (status $status)" >&2
  exit 1
fi
"$root/scripts/install-deps.sh"

werror=OFF
[[ -n "${CI:-}" ]] && werror=ON
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWEBHOOKS_TSAN=ON -DWEBHOOKS_WERROR="$werror" >/dev/null
cmake --build "$build"

# halt_on_error: the first report fails its test, with the report in the
# test's output. Timeouts are wider than the plain build's: TSan runs code
# five to fifteen times slower.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/tests/tsan.supp" \
  ctest --test-dir "$build" --output-on-failure --no-tests=error --timeout 900 \
  -j "$(nproc)" "$@"
