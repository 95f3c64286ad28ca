# syntax=docker/dockerfile:1
# worker-base image: the compiled service under supervisord, with cron for the healthchecks
# ping. Build: docker build --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) .
# Run: see docs/container.md (npm run compose, then docker compose up -d).

# --- build: all dependencies, TypeScript -> dist/ ---------------------------------------------
FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.json

# --- runtime: production dependencies only, supervisord as PID 1 ------------------------------
FROM node:24-slim AS runtime

# supervisor brings python3 (the FATAL listener runs on it); cron runs the healthchecks ping;
# tini is the init for running the service without supervisord (`tini -- node ...`: the service
# refuses to be PID 1, where its kill switches cannot work).
RUN apt-get update \
 && apt-get install -y --no-install-recommends supervisor cron curl ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

# The service runs as this user (supervisord's user=); supervisord and cron stay root, which
# cron needs to run its jobs as their users.
# /etc/supervisord.conf: where supervisorctl looks first, so `docker exec CONTAINER supervisorctl
# status` needs no -c.
RUN groupadd --system app && useradd --system --gid app --create-home --shell /usr/sbin/nologin app \
 && ln -s /app/config/supervisord.conf /etc/supervisord.conf

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Owned by root and read-only to the service.
COPY --from=build /build/dist/src ./dist/src
COPY config ./config
COPY docker ./docker
COPY entrypoint.sh /usr/local/bin/entrypoint.sh

# The build arguments come after the apt and npm steps: a new commit rebuilds only what follows.
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
# stop-timeout: `docker run` and `podman run` stop with 10 s unless told; the service needs its
# 40 s deadline plus supervisord's margin (pass --stop-timeout 60 / -t 60, docs/container.md).
LABEL org.opencontainers.image.title="worker-base" \
      org.opencontainers.image.description="A supervised, long-running TypeScript worker service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.worker-base.stop-timeout="60"

# Every %(ENV_...)s in config/supervisord.conf has its default here (entrypoint.sh checks).
# APP_VERSION is on every log line and is Sentry's release: the version and the git commit.
ENV NODE_ENV=production \
    APP_VERSION="${VERSION}+${COMMIT}" \
    LOG_PRETTY=false \
    APP_DIR=/app \
    APP_USER=app \
    NODE_BIN=/usr/local/bin/node \
    MAX_SEMI_SPACE_MB=2 \
    SUPERVISOR_CONF=/app/config/supervisord.conf \
    SUPERVISOR_RUN_DIR=/run/supervisor \
    CRON_AUTOSTART=true \
    CRON_D_DIR=/etc/cron.d \
    HEALTH_PORT=8080

# docker stop sends TERM to supervisord (PID 1), which passes TERM to the service and waits
# stopwaitsecs (45 s) for it; compose's stop_grace_period (60 s) covers that.
STOPSIGNAL SIGTERM
# docker/healthcheck.sh: /livez and /readyz, both, with curl --max-time (podman 4.3 does not
# enforce --timeout), or, with HEALTH_PORT=0 (endpoint off), supervisord's word that the
# service is RUNNING.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/app/docker/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
