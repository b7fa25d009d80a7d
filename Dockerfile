# The webhooks image: webhooks-api, webhooks-worker and webhooksctl on
# debian:bookworm-slim, running as uid/gid 10001 (the Kubernetes manifests'
# runAsUser). Build it with deploy/image/build.sh (buildah or podman; also
# makes the base image locally when no registry is reachable), or with any
# builder that understands RUN --mount=type=cache:
#
#   buildah bud --layers --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t webhooks:0.1.0 .
#
# The SQL migrations are compiled into the binaries (lib/store embeds
# lib/store/migrations/*.sql), so the image carries no data files.

ARG BASE_IMAGE=debian:bookworm-slim

# The shared libraries' packages the three binaries need at run time: the
# Debian packages owning their DT_NEEDED libraries (the build stage derives
# that set again from the built binaries and fails when a package is missing
# here, and so does one listed here that nothing needs). apt brings their
# own dependencies (libpq5, libre2-9, libc-ares2, curl's libraries, ...).
ARG RUNTIME_PACKAGES="libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libpqxx-6.4 \
libprometheus-cpp-core1.0 libcpp-httplib0.11 libcurl4 libssl3 libstdc++6 libgcc-s1 libc6"

# --- build ------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ARG RUNTIME_PACKAGES
ENV DEBIAN_FRONTEND=noninteractive

# The README's dependency script (it also installs the test-only packages,
# PostgreSQL and kubectl: they stay in this stage). Its own layer, so that it
# is rebuilt only when the script changes.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# Only what the build reads (the top-level CMakeLists.txt adds proto, lib and
# services; tests/ only with WEBHOOKS_BUILD_TESTS=ON), so that changes to
# tests or documents do not rebuild the image.
WORKDIR /src
COPY CMakeLists.txt /src/
COPY proto /src/proto
COPY lib /src/lib
COPY services /src/services

# Release, tests off; ccache (the CMakeLists.txt uses it when installed)
# keeps its cache in a cache mount, so a rebuild after a source change
# recompiles only what changed. The three deployed binaries are staged in
# /staging/bin by `cmake --install` (stripped); a binary the install rules
# do not cover is copied from the build tree instead.
ENV CCACHE_DIR=/root/.ccache
RUN --mount=type=cache,target=/root/.ccache,id=webhooks-ccache,sharing=locked \
    set -eu; \
    ccache --zero-stats >/dev/null; \
    cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEBHOOKS_BUILD_TESTS=OFF; \
    cmake --build /build --target webhooks-api webhooks-worker webhooksctl; \
    cmake --install /build --prefix /staging --strip; \
    for b in webhooks-api webhooks-worker webhooksctl; do \
      if [ ! -x "/staging/bin/$b" ]; then \
        echo "no install rule staged $b: copying it from the build tree"; \
        install -D -m 0755 "$(find /build/services -type f -name "$b" | head -n 1)" "/staging/bin/$b"; \
        strip "/staging/bin/$b"; \
      fi; \
    done; \
    ccache --show-stats | grep -Ei 'hits|misses|cache size' || true

# The runtime package set, derived: every DT_NEEDED library of the staged
# binaries, resolved by the dynamic linker's cache, mapped to the package
# that owns it. The build fails if RUNTIME_PACKAGES above lacks one or
# lists one more.
RUN set -eu; \
    for f in /staging/bin/*; do \
      readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; \
    done | sort -u > /tmp/needed; \
    while read -r so; do \
      dpkg -S "*/$so" | sed -n '1s/:.*//p'; \
    done < /tmp/needed | sort -u > /staging/runtime-packages; \
    echo "runtime packages derived from the binaries: $(tr '\n' ' ' < /staging/runtime-packages)"; \
    missing=""; \
    for p in $(cat /staging/runtime-packages); do \
      case " $(echo $RUNTIME_PACKAGES) " in *" $p "*) ;; *) missing="$missing $p" ;; esac; \
    done; \
    extra=""; \
    for p in $RUNTIME_PACKAGES; do \
      grep -qx "$p" /staging/runtime-packages || extra="$extra $p"; \
    done; \
    if [ -n "$missing$extra" ]; then \
      echo "Dockerfile: RUNTIME_PACKAGES lacks:${missing:- nothing}; needs no:${extra:- nothing}" >&2; \
      exit 1; \
    fi

# --- runtime ----------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG RUNTIME_PACKAGES
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=""

RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates $RUNTIME_PACKAGES >/dev/null; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log; \
    groupadd --system --gid 10001 webhooks; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin webhooks

COPY --from=build /staging/bin/webhooks-api /staging/bin/webhooks-worker /staging/bin/webhooksctl /usr/local/bin/

# Every library resolves (a missing package fails the build, not a pod).
RUN set -eu; \
    if ldd /usr/local/bin/webhooks-api /usr/local/bin/webhooks-worker /usr/local/bin/webhooksctl \
         | grep 'not found'; then exit 1; fi

LABEL org.opencontainers.image.title="webhooks" \
      org.opencontainers.image.description="Webhook delivery service: webhooks-api (gRPC API, migrate, cleanup), webhooks-worker and webhooksctl" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# gRPC API, API metrics, worker metrics.
EXPOSE 50051 9464 9465
USER 10001:10001
# No entrypoint: the command names the binary (the manifests' `command:`
# replaces this), e.g. `webhooks-worker` or `webhooks-api migrate`.
CMD ["webhooks-api", "serve"]
