# syntax=docker/dockerfile:1.7
#
# kurz: build with the pinned toolchain, run as an unprivileged user on a slim Debian 12.
#
#   docker build -t kurz:dev .
#   docker run --rm -p 5000:5000 -e DATABASE_URL=postgres://... kurz:dev
#
# Base images are pinned by exact version tag, and both stages are Debian 12 (bookworm),
# so the binary's glibc is the one it runs with. To pin by digest as well, resolve the tag
# and append it (CI can do this with `docker buildx imagetools inspect`):
#   docker buildx imagetools inspect rust:1.95.0-slim-bookworm --format '{{json .Manifest.Digest}}'
#   FROM rust:1.95.0-slim-bookworm@sha256:<digest> AS build
# Refresh the tags (and digests) together when Debian publishes a new point release; the
# Rust version must stay the one of Cargo.toml's rust-version.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-20251229-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
# The registry and target directories are BuildKit caches, so a rebuild after a change to
# src/ recompiles kurz, not its dependencies. SQLite is linked statically (sqlx's
# sqlite-bundled) and TLS is rustls: the binary needs only glibc at run time.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
 && install -D -m 0755 target/release/kurz /out/kurz

FROM ${RUNTIME_IMAGE}
# No packages added: kurz makes no outbound TLS connection by default (add ca-certificates
# when KURZ_OTLP_ENDPOINT or a database URL needs verified TLS). bash, already in the base
# image, runs the health probe.
RUN groupadd --system --gid 10001 kurz \
 && useradd --system --uid 10001 --gid kurz --home-dir /var/lib/kurz --shell /usr/sbin/nologin kurz \
 && install -d -o kurz -g kurz -m 0750 /var/lib/kurz
COPY --from=build /out/kurz /usr/local/bin/kurz
COPY deploy/compose/kurz-probe /usr/local/bin/kurz-probe

# Listen on every interface of the container (the default, 127.0.0.1, is unreachable from
# outside it); the embedded store, if no database is configured, lives in the volume-able
# /var/lib/kurz; logs are JSON lines on stdout.
ENV KURZ_LISTEN=0.0.0.0:5000 \
    KURZ_DATA_DIR=/var/lib/kurz \
    KURZ_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/kurz
EXPOSE 5000
# Liveness: the process answers. Orchestrators that gate traffic on "healthy" override it
# with `kurz-probe /ready` (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["kurz-probe", "/health"]
# SIGTERM drains: /ready turns 503, in-flight requests finish, queued clicks are written,
# exit 0. Give it KURZ_DRAIN_DELAY_MS + KURZ_SHUTDOWN_TIMEOUT_MS before SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kurz"]
CMD ["serve"]
