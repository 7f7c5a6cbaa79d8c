# syntax=docker/dockerfile:1
#
# Switchboard container image.
#
#   docker build -t switchboard .        # needs BuildKit (the default since Docker 23)
#   podman build --format docker -t switchboard .   # the OCI format drops HEALTHCHECK
#   docker run --rm --read-only -p 8080:8080 \
#     -v "$PWD/routes.yaml:/etc/switchboard/routes.yaml:ro" \
#     -v switchboard-data:/var/lib/switchboard \
#     -e CRM_TOKEN=... switchboard
#
# Paths and ports inside the image:
#   /etc/switchboard/routes.yaml  the config that CMD passes to `serve`. The image
#                                 ships routes.example.yaml there as a default (see
#                                 "The default config" below); mount your own over
#                                 it, read-only is fine (for SIGHUP reloads or
#                                 server.watch_config mount the directory, not the file).
#                                 `${NAME}` secrets in it come from the environment (-e).
#   /var/lib/switchboard          the data dir and working dir, owned by the
#                                 `switchboard` user (uid/gid 10001), a VOLUME: the
#                                 one place the relay writes, so the container runs
#                                 with --read-only. Point server.spool here (the
#                                 default config does: /var/lib/switchboard/switchboard.db)
#                                 and mount a named volume on it to keep queued
#                                 deliveries across container restarts.
#   8080                          webhook ingress (server.listen)
#   9090                          admin listener: /metrics, /healthz, /readyz, /api/
#                                 (server.admin_listen). The default config keeps it
#                                 on the container's loopback, where HEALTHCHECK asks
#                                 /readyz (`switchboard health`; the image has no
#                                 curl). To reach it from outside the container
#                                 (Prometheus, probes) set admin_listen: 0.0.0.0:9090,
#                                 which requires an admin_token, e.g.
#                                 admin_token: ${SWITCHBOARD_ADMIN_TOKEN} and -e.
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
# The default config: routes.example.yaml, root-owned and world-readable;
# replace it by mounting a file. Three edits make the example fit a container:
# - its ingress binds 127.0.0.1, unreachable through published ports, so the
#   image's copy listens on 0.0.0.0;
# - its spool, ./data/switchboard.db, goes to an absolute path in the data dir;
# - its sipgate source allows sipgate's address and loopback. Through a
#   container bridge, `docker run -p 8080:8080` then `curl localhost:8080/...`
#   arrives from the bridge's gateway (Docker 172.17.0.1 or 172.18+.0.1,
#   Podman 10.88.0.1, rootless 10.0.2.x, Docker Desktop 192.168.65.x), which
#   the example answers 403. The image's copy also allows the private ranges
#   (RFC 1918 and IPv6 unique-local), so trying it with curl works, while the
#   public internet still gets 403 but for sipgate. This is safe enough for a
#   default whose targets are local sinks (nothing leaves the container unless
#   -e CRM_URL and the like point it somewhere); a real deployment mounts its
#   own config: a public sender's address (sipgate's) arrives unchanged
#   through a published port (Docker forwards with DNAT), so `allow` lists it
#   as on a host. Where every client looks like the gateway (docker-proxy for
#   IPv6 clients, rootless port forwarding), an allow-list cannot tell senders
#   apart: use a source `token` or `verify` there. See docs/deployment.md.
# admin_listen stays on loopback: off loopback it needs an admin_token, which
# is a secret the image cannot ship. Then `check` proves that the binary runs
# on this base (shared libraries) and that the shipped default config is
# valid, and grep that each edit took (a sed that matches nothing is silent).
COPY routes.example.yaml /etc/switchboard/routes.yaml
RUN sed -i -E \
      -e 's/^([[:space:]]*listen:[[:space:]]*"?)127\.0\.0\.1:/\10.0.0.0:/' \
      -e 's|^([[:space:]]*spool:[[:space:]]*"?)\./data/|\1/var/lib/switchboard/|' \
      -e 's|^([[:space:]]*allow:[[:space:]]*\[217\.116\.118\.254, 127\.0\.0\.1, "::1")\]|\1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, "fc00::/7"]|' \
      /etc/switchboard/routes.yaml \
 && grep -q '^  listen: 0\.0\.0\.0:8080' /etc/switchboard/routes.yaml \
 && grep -q '^  spool: /var/lib/switchboard/' /etc/switchboard/routes.yaml \
 && grep -q '172\.16\.0\.0/12' /etc/switchboard/routes.yaml \
 && chmod 0644 /etc/switchboard/routes.yaml \
 && /usr/local/bin/switchboard check --config /etc/switchboard/routes.yaml

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/switchboard

VOLUME ["/var/lib/switchboard"]
EXPOSE 8080 9090
STOPSIGNAL SIGTERM

# Ready (/readyz on the loopback admin listener): the config is loaded and the
# spool takes writes; not while draining. A config that moves admin_listen
# elsewhere overrides it: --health-cmd 'switchboard health --admin http://127.0.0.1:PORT'
# (or --no-healthcheck when admin_listen is off).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/switchboard", "health", "--timeout", "4s"]

ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/routes.yaml"]
