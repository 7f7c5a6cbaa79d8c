# syntax=docker/dockerfile:1
#
# Switchboard container image.
#
#   docker build -t switchboard .        # needs BuildKit (the default since Docker 23)
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/routes.yaml:/etc/switchboard/routes.yaml:ro" \
#     -v switchboard-data:/var/lib/switchboard \
#     -e CRM_TOKEN=... switchboard
#
# Paths and ports inside the image:
#   /etc/switchboard/routes.yaml  the config that CMD passes to `serve`. The image
#                                 ships routes.example.yaml there as a default;
#                                 mount your own over it, read-only is fine (for
#                                 SIGHUP reloads mount the directory, not the file).
#                                 `${NAME}` secrets in it come from the environment (-e).
#   /var/lib/switchboard          the data dir and working dir, owned by the
#                                 `switchboard` user (uid/gid 10001). Point
#                                 server.spool here (the default config does:
#                                 /var/lib/switchboard/switchboard.db) and mount a
#                                 volume on it to keep queued deliveries across
#                                 container restarts.
#   8080                          webhook ingress (server.listen)
#   9090                          admin listener: /metrics, /healthz, /readyz, /api/
#                                 (server.admin_listen). To reach it from outside the
#                                 container (probes, Prometheus) set admin_listen:
#                                 0.0.0.0:9090, which requires an admin_token.
#
# SIGTERM (docker stop) drains in-flight deliveries within server.shutdown_grace;
# give `docker stop -t` / terminationGracePeriodSeconds more than that.
# SIGHUP (docker kill -s HUP) reloads the config.
# Other subcommands run through the same entrypoint, e.g.
#   docker run --rm -v "$PWD/routes.yaml:/etc/switchboard/routes.yaml:ro" switchboard \
#     check --config /etc/switchboard/routes.yaml

############################ builder ############################
FROM rust:1.95-slim-bookworm AS builder

# rust:*-slim already has gcc and libc6-dev, which is all the C that the
# -sys crates here need (aws-lc-sys and bundled SQLite build with the `cc`
# crate; no cmake). make is for build scripts that drive a Makefile.
# Versions are not pinned: bookworm only takes security/point updates, and
# Debian drops superseded versions from its mirror, so an exact pin would
# break the build at the next point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY . .

# Dependency caching uses BuildKit cache mounts (crate downloads and target/)
# rather than the "build a dummy main.rs first" trick: Cargo refuses a manifest
# whose [[bench]]/[[example]]/[[test]] files are missing, so the dummy breaks
# as soon as the crate grows one. target/ is a cache mount, so the binary has
# to be copied out within the same RUN.
RUN --mount=type=cache,id=switchboard-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=switchboard-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=switchboard-target,target=/build/target,sharing=locked \
    cargo build --profile dist --locked --bin switchboard \
 && install -D -m 0755 target/dist/switchboard /out/switchboard

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Webhook fan-out relay: allow-listed ingress, YAML routing rules, transforms, per-target delivery" \
      org.opencontainers.image.licenses="Apache-2.0"

# ca-certificates: reqwest (rustls) verifies targets against the system trust
# store, /etc/ssl/certs. Not pinned, for the reason given in the builder.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 switchboard \
 && useradd --uid 10001 --gid switchboard --no-log-init \
      --home-dir /var/lib/switchboard --no-create-home \
      --shell /usr/sbin/nologin switchboard \
 && install -d -o switchboard -g switchboard -m 0750 /var/lib/switchboard \
 && install -d -m 0755 /etc/switchboard

COPY --from=builder /out/switchboard /usr/local/bin/switchboard
# Default config: root-owned, world-readable; replace it by mounting a file.
# Two edits make the example fit a container: its ingress binds 127.0.0.1,
# unreachable through published ports, so the image's copy listens on 0.0.0.0;
# and its spool, ./data/switchboard.db, goes to an absolute path in the data dir.
# admin_listen stays on loopback: off loopback it needs an admin_token, which
# is a secret the image cannot ship. Then `check` proves that the binary runs
# on this base (shared libraries) and that the shipped default config is valid.
COPY routes.example.yaml /etc/switchboard/routes.yaml
RUN sed -i -E \
      -e 's/^([[:space:]]*listen:[[:space:]]*"?)127\.0\.0\.1:/\10.0.0.0:/' \
      -e 's|^([[:space:]]*spool:[[:space:]]*"?)\./data/|\1/var/lib/switchboard/|' \
      /etc/switchboard/routes.yaml \
 && chmod 0644 /etc/switchboard/routes.yaml \
 && /usr/local/bin/switchboard check --config /etc/switchboard/routes.yaml

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/switchboard

EXPOSE 8080 9090
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/routes.yaml"]
