#!/usr/bin/env bash
# Fails when a C++ file differs from what clang-format (.clang-format, Debian
# 12's clang-format 14) makes of it. Installs clang-format if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang-format >/dev/null; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    clang-format >/dev/null
fi
cd "$root"
git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run --Werror
echo "format: $(git ls-files '*.cc' '*.h' | wc -l) files clean"
