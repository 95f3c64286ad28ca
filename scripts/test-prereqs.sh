#!/usr/bin/env bash
# Installs the system programs the test suite drives for real, when they are missing.
# Debian packages only; needs root (CI and the dev machines run as root).
set -euo pipefail
need=()
command -v supervisord >/dev/null || need+=(supervisor)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v curl >/dev/null || need+=(curl) # the healthchecks cron line runs for real
# Metrics tests write to a real InfluxDB-compatible store and read the points back.
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
# The container tier runs the rendered compose file with docker-compose against podman's
# Docker-compatible socket (podman itself comes from scripts/image.sh, which the tier runs).
command -v docker-compose >/dev/null || need+=(docker-compose)
# Prometheus tests: promtool checks /metrics, and a real Prometheus scrapes the service.
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
# A publisher nobody here wrote (Python's pika) sends header values amqplib's encoder cannot.
/usr/bin/python3 -c 'import pika' 2>/dev/null || need+=(python3-pika)
# The sentinels' shell scripts run against busybox's programs too, as in an Alpine image.
command -v busybox >/dev/null || need+=(busybox)
# The scheduler's process test steps a service's wall clock for real (libfaketime, LD_PRELOAD).
command -v faketime >/dev/null || need+=(faketime)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test-prereqs: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "test-prereqs: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
