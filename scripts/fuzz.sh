#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/, and runs each for FUZZ_SECONDS
# (default 60) on a copy of its seed corpus (tests/fuzz/corpus/<target>; new
# inputs stay in build-fuzz/fuzz/, never in the repository). Fails on any
# crash, sanitizer report, leak, timeout or property violation, printing the
# reproducer's path and contents. Arguments: the targets to run (default all).
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh event_fuzz
#   build-fuzz/tests/fuzz/event_fuzz <reproducer>   # replay one input
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
# Every seed is far smaller; large enough for a 2,048-byte URL with headers,
# a text-format event with long strings, a response head and 4 KiB excerpt.
max_len=4096
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(event_fuzz subscription_fuzz response_fuzz)

"$root/scripts/install-deps.sh"
# clang and its runtime (libFuzzer, the sanitizers) are needed only here, so
# install-deps.sh leaves them out. Debian 12's clang is clang 14.
packages=(clang libclang-rt-14-dev)
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

werror=OFF
[[ -n "${CI:-}" ]] && werror=ON
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEBHOOKS_FUZZ=ON -DWEBHOOKS_WERROR="$werror" >/dev/null
cmake --build "$build" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for target in "${targets[@]}"; do
  work="$build/fuzz/$target"
  rm -rf "$work"
  mkdir -p "$work/artifacts"
  cp -R "$root/tests/fuzz/corpus/$target" "$work/corpus"
  echo "--- $target: ${seconds}s on a copy of tests/fuzz/corpus/$target"
  status=0
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/log" 2>&1 || status=$?
  # The last status line (coverage, features, corpus) and the totals.
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$work/log" | tail -n 1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/log" || true
  if [[ $status -ne 0 ]]; then
    failed+=("$target")
    echo "FAILED: $target exited with $status; the end of its log ($work/log):"
    grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/log" | tail -n 60
    for artifact in "$work/artifacts"/*; do
      [[ -e "$artifact" ]] || continue
      echo "reproducer: $artifact"
      echo "  replay: $build/tests/fuzz/$target $artifact"
      echo "  base64: $(base64 -w0 "$artifact")"
    done
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${seconds}s each"
