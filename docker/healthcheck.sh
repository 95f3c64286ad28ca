#!/bin/sh
# The image's HEALTHCHECK (and the compose file's healthcheck). Exit 0 healthy, 1 unhealthy.
#
# HEALTH_PORT set and not 0: the service's own GET /livez and GET /readyz, both: healthy means
# live (threads alive, main loop responsive) and ready (started, not stopping, and whatever the
# service's readiness checks add: the broker connected and not blocking it). /healthz alone
# (liveness) read healthy during a start-up that never got ready, so a compose file's
# `depends_on: condition: service_healthy` started its dependants, and the healthchecks cron
# line pinged. curl's --max-time bounds each request (2 s by default: both within the
# HEALTHCHECK's 5 s timeout), because not every engine enforces that timeout (podman 4.3 waits
# for as long as a frozen service keeps the connection open).
# HEALTH_PORT=0 or empty (the endpoint is off): supervisord's word that the service is RUNNING,
# so turning the endpoint off does not leave the container unhealthy for good.
# It asks the address the endpoint listens on (HEALTH_HOST): a wildcard (0.0.0.0, ::, or unset)
# through 127.0.0.1, an IPv6 address in brackets. 127.0.0.1 alone left a service listening on ::1
# or on the pod's address unhealthy for good.
set -eu
max_time=${HEALTHCHECK_MAX_TIME_S:-2}
port=${HEALTH_PORT:-0}
if [ "$port" != 0 ]; then
  host=${HEALTH_HOST:-127.0.0.1}
  case $host in
    # Node listens on :: for IPv4 too; a container with IPv6 off has no ::1 to ask.
    0.0.0.0 | '' | :: | '[::]') host=127.0.0.1 ;;
    \[*) ;;
    *:*) host="[$host]" ;;
  esac
  # --fail-early: a failed first request fails the check (curl's exit is otherwise the last's).
  exec curl -fsS --fail-early --max-time "$max_time" -o /dev/null -o /dev/null \
    "http://$host:$port/livez" "http://$host:$port/readyz"
fi
# timeout: supervisorctl waits as long as supervisord does not answer.
status=$(timeout "$max_time" supervisorctl -c "$SUPERVISOR_CONF" status app 2>&1) || true
case $status in
  *RUNNING*) exit 0 ;;
  *)
    echo "healthcheck: HEALTH_PORT=0, and supervisord says: $status" >&2
    exit 1
    ;;
esac
