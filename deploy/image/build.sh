#!/usr/bin/env bash
# Builds the container image from the top-level Dockerfile with buildah (or
# podman; no Docker daemon needed), then runs the image's binaries to prove
# that it works, and prints its size.
#
#   deploy/image/build.sh [TAG]        TAG defaults to webhooks:<version>
#
# Environment:
#   WEBHOOKS_TEST_DATABASE_URL  when set, the image also runs
#                               `webhooks-api migrate` against that database
#                               (host network), proving its libpq and TLS
#                               libraries work for real
#   BASE_TARBALL                where to keep the base made by mmdebstrap
#
# The base image is debian:bookworm-slim. Where it is neither in local
# storage nor pullable (no registry reachable), it is made here: mmdebstrap
# builds a minimal Debian 12 from Debian's archive, trimmed as the official
# slim image is (no manuals, documentation or locales), and it is imported
# under the official name, so that the Dockerfile is the same either way.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
version="$(sed -n 's/^project(webhooks VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
tag="${1:-webhooks:$version}"
base="docker.io/library/debian:bookworm-slim"

say() { printf '== %s\n' "$*" >&2; }

# The tools, from Debian's packages, when missing.
need=()
command -v buildah >/dev/null || command -v podman >/dev/null || need+=(buildah podman)
command -v podman >/dev/null || need+=(podman)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v runc >/dev/null || need+=(runc)
if [[ ${#need[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  say "installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" uidmap fuse-overlayfs slirp4netns >/dev/null
fi

# --- the base image -----------------------------------------------------------
if ! podman image exists "$base"; then
  say "pulling $base"
  if ! timeout 120 podman pull -q "$base" >/dev/null 2>&1; then
    tarball="${BASE_TARBALL:-${TMPDIR:-/tmp}/webhooks-bookworm-slim.tar}"
    say "no registry reachable: making $base with mmdebstrap ($tarball)"
    # merged-usr: /usr merged by mmdebstrap itself, not by the usrmerge
    # package, which would bring perl (50 MB) into the image.
    mmdebstrap --variant=minbase --format=tar \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$tarball" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main"
    podman import -q --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
    rm -f "$tarball"
  fi
fi

# Containers run inside a container (as on our CI machines) can neither
# raise resource limits nor use crun's cgroup handling; runc with limits no
# higher than the current ones works there.
runtime_flags=()
if ! podman run --rm --pull=never "$base" true >/dev/null 2>&1; then
  runtime_flags=(--runtime runc --ulimit "nofile=1024:1024" --ulimit "nproc=4096:4096")
  podman run --rm --pull=never "${runtime_flags[@]}" "$base" true
fi
[[ ${#runtime_flags[@]} -eq 0 ]] || say "container runtime flags: ${runtime_flags[*]}"

# --- build ----------------------------------------------------------------------
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  --build-arg "BASE_IMAGE=$base")
say "building $tag (revision $revision)"
if command -v buildah >/dev/null; then
  buildah bud --layers --pull=never --network host "${runtime_flags[@]}" \
    "${build_args[@]}" -t "$tag" -f "$root/Dockerfile" "$root"
else
  podman build --layers --pull=never --network host "${runtime_flags[@]}" \
    "${build_args[@]}" -t "$tag" -f "$root/Dockerfile" "$root"
fi

# --- prove it -------------------------------------------------------------------
in_image() { podman run --rm --pull=never "${runtime_flags[@]}" "$@"; }
failed=0
check() { # description, expected substring, command...
  local what="$1" expected="$2" out
  shift 2
  out="$("$@" 2>&1 || true)"
  if [[ "$out" == *"$expected"* ]]; then
    say "ok: $what"
  else
    say "FAILED: $what: expected '$expected' in:"
    printf '%s\n' "$out" >&2
    failed=1
  fi
}
for binary in webhooks-api webhooks-worker webhooksctl; do
  check "$binary --version" "$binary $version" in_image "$tag" "$binary" --version
done
check "webhooks-api migrate --help" "apply database migrations" \
  in_image "$tag" webhooks-api migrate --help
check "runs as uid 10001" "10001:10001" podman image inspect --format '{{.Config.User}}' "$tag"
check "version label" "$version" \
  podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$tag"
if [[ -n "${WEBHOOKS_TEST_DATABASE_URL:-}" ]]; then
  check "webhooks-api migrate against the database" "database schema at version" \
    in_image --network host -e WEBHOOKS_DATABASE_URL="$WEBHOOKS_TEST_DATABASE_URL" \
    "$tag" webhooks-api migrate
fi

size="$(podman image inspect --format '{{.Size}}' "$tag")"
base_size="$(podman image inspect --format '{{.Size}}' "$base")"
printf '%s: %d MB (base %s: %d MB, so %d MB of ours)\n' "$tag" \
  $((size / 1000000)) "$base" $((base_size / 1000000)) $(((size - base_size) / 1000000))
exit "$failed"
