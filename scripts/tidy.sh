#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy, Debian 12's clang-tidy 14) over the .cc files
# in lib/ and services/ and fails on any finding. Installs clang-tidy if
# missing; the build dependencies must be there already
# (scripts/install-deps.sh). Configures build-tidy/ for its compilation
# database and generates the protobuf/gRPC headers there, without compiling
# anything. Extra arguments go to run-clang-tidy (see run-clang-tidy-14 -h).
# About 2.5 minutes on two cores, from a clean clone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
build="$root/build-tidy"
start=$SECONDS

runner=
for candidate in run-clang-tidy-14 run-clang-tidy; do
  if command -v "$candidate" >/dev/null; then runner=$candidate && break; fi
done
if [[ -z $runner ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    clang-tidy >/dev/null
  runner=run-clang-tidy
fi

# Tests off: tidy looks at lib/ and services/ only, and a configure without
# GoogleTest is quicker.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DWEBHOOKS_BUILD_TESTS=OFF >/dev/null

# The only generated headers are protoc's (build-tidy/proto/**/*.pb.h): ask
# ninja for them by name, so that nothing is compiled.
mapfile -t generated < <(ninja -C "$build" -t targets all |
  sed -n 's/^\([^/][^:]*\.h\): CUSTOM_COMMAND$/\1/p')
if [[ ${#generated[@]} -eq 0 ]]; then
  echo "tidy: no generated headers among build-tidy's targets" >&2
  exit 1
fi
ninja -C "$build" --quiet "${generated[@]}"

# run-clang-tidy matches this regex against the database's absolute paths:
# the sources under lib/ and services/, not build-tidy/'s generated ones.
root_re=$(printf '%s' "$root" | sed 's/[][\.*^$+?(){}|]/\\&/g')
files_re="^$root_re/(lib|services)/.*\\.cc\$"
file_count=$(grep -cE "\"file\": \"$root_re/(lib|services)/.*\\.cc\"" \
  "$build/compile_commands.json" || true)

log="$build/tidy.log"
status=0
"$runner" -p "$build" -quiet -j "$(nproc)" "$@" "$files_re" >"$log" 2>&1 || status=$?

# run-clang-tidy echoes each clang-tidy command and forces colour; clang-tidy
# counts the warnings it suppressed in code outside HeaderFilterRegex. Show
# the rest, in plain text: the findings with their source lines, any error.
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
grep -vE '^[^ ]*clang-tidy[^ ]* |^[0-9]+ (warning|error)s? (and [0-9]+ errors? )?generated\.$' \
  <<<"$plain" || true
# A finding in a header is reported once per file that includes it.
findings=$({ grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' <<<"$plain" || true; } |
  sort -u | wc -l)
elapsed=$((SECONDS - start))
echo "tidy: $file_count files, $findings findings (${elapsed}s)"
if [[ $status -ne 0 || $findings -ne 0 ]]; then
  echo "tidy: failed (run-clang-tidy exit status $status); full log: $log" >&2
  exit 1
fi
