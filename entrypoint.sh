#!/bin/sh
# Container entry point: checks the settings, writes the healthchecks cron entry when
# HEALTHCHECKS_URL is set, prepares directories, then replaces itself with supervisord in the
# foreground, so supervisord is PID 1 and `docker stop` (TERM) reaches it directly.
#
# Every path comes from the environment (the Dockerfile's ENV sets the container's values), so
# the tests run this very script against a temporary root. ENTRYPOINT_DRY_RUN=1 prints the
# final command instead of running it. Arguments, when given, replace supervisord (for
# example `docker run --rm -it IMAGE bash`).
#
# Exit 78 (EX_CONFIG, as the service itself uses) with one line per problem on a bad setting.
set -eu

problems=''
problem() { problems="${problems}entrypoint: $*
"; }
# Whether $1 is a number from $2 to $3.
in_range() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}
# Whether cron field $1 is a list of *, a or a-b (each within $2..$3), with an optional /step
# (1 or more) on * and a-b: what Debian's cron takes.
cron_field_ok() (
  lo=$2 hi=$3
  case $1 in ,* | *, | *,,*) return 1 ;; esac
  set -f
  IFS=,
  # shellcheck disable=SC2086 # split the list on commas, without globbing
  set -- $1
  for item; do
    range=${item%%/*}
    if [ "$range" != "$item" ]; then
      in_range "${item#*/}" 1 999 || return 1
      case $range in '*' | *-*) ;; *) return 1 ;; esac
    fi
    case $range in
      '*') ;;
      *-*) { in_range "${range%%-*}" "$lo" "$hi" && in_range "${range#*-}" "$lo" "$hi"; } || return 1 ;;
      *) in_range "$range" "$lo" "$hi" || return 1 ;;
    esac
  done
)
# Each of the five fields of cron schedule $1 (checked for five fields of digits and * / , -).
check_cron_fields() {
  # shellcheck disable=SC2086 # split the schedule into its fields, without globbing
  set -f && set -- $1 && set +f
  for spec in "minute $1 0 59" "hour $2 0 23" "day-of-month $3 1 31" "month $4 1 12" "day-of-week $5 0 7"; do
    # shellcheck disable=SC2086 # name, value, lowest, highest
    set -f && set -- $spec && set +f
    cron_field_ok "$2" "$3" "$4" ||
      problem "HEALTHCHECKS_SCHEDULE's $1 field '$2' is not a cron $1 ($3 to $4: *, a, a-b, lists, /step)"
  done
}
fail_if_problems() {
  if [ -n "$problems" ]; then
    printf '%s' "$problems" >&2
    exit 78
  fi
}

# --- the variables supervisord.conf expands (it has no defaults: a missing one is fatal) -----
if [ -z "${SUPERVISOR_CONF:-}" ]; then
  problem "SUPERVISOR_CONF is not set (the path of supervisord.conf; the image sets /app/config/supervisord.conf)"
  fail_if_problems
fi
[ -r "$SUPERVISOR_CONF" ] || problem "SUPERVISOR_CONF=$SUPERVISOR_CONF is not a readable file"
fail_if_problems

conf_variables=$(sed -e 's/[;#].*$//' "$SUPERVISOR_CONF" |
  grep -o '%(ENV_[A-Za-z_][A-Za-z0-9_]*)s' | sed -e 's/^%(ENV_//' -e 's/)s$//' | sort -u)
# The same variables as shell assignments, quoted, for a command run without them (the
# healthchecks cron line with HEALTH_PORT=0 runs supervisorctl); and those that quoting in a cron
# line cannot carry (a quote, a percent sign, a backslash).
supervisor_env=''
unquotable=''
# SUPERVISOR_CONF is set (checked above); supervisorctl needs it too.
for name in SUPERVISOR_CONF $conf_variables; do
  # The name matched [A-Za-z_][A-Za-z0-9_]* above, so the eval only ever reads a variable.
  eval "value=\${$name-}"
  # shellcheck disable=SC2154 # value is assigned by the eval
  [ -n "$value" ] || problem "$name is not set (supervisord.conf uses it; see the Dockerfile's ENV for its default)"
  supervisor_env="$supervisor_env$name='$value' "
  case $value in *"'"* | *%* | *\\*) unquotable="$unquotable $name" ;; esac
done
fail_if_problems

# --- what those variables point at -----------------------------------------------------------
[ -x "$NODE_BIN" ] || problem "NODE_BIN=$NODE_BIN is not an executable file"
[ -r "$APP_DIR/dist/src/app/main.js" ] ||
  problem "APP_DIR=$APP_DIR has no dist/src/app/main.js (is the service built and copied?)"
id -u "$APP_USER" >/dev/null 2>&1 || problem "APP_USER=$APP_USER is not a user on this system"
case $MAX_SEMI_SPACE_MB in
  *[!0-9]*) problem "MAX_SEMI_SPACE_MB must be a whole number of MiB, 0 for V8's default (got '$MAX_SEMI_SPACE_MB')" ;;
esac
case $CRON_AUTOSTART in
  true | false) ;;
  *) problem "CRON_AUTOSTART must be true or false (got '$CRON_AUTOSTART')" ;;
esac

# --- shutdown timing: the service's deadline must end before supervisord's KILL --------------
stopwaitsecs=$(awk -F= '/^\[/ { in_app = ($0 == "[program:app]") }
  in_app && $1 ~ /^stopwaitsecs *$/ { gsub(/ /, "", $2); print $2 }' "$SUPERVISOR_CONF")
# The service reads NAME or the file NAME_FILE names, a regular file (src/lib/primitives/config.ts):
# so does this check (a FIFO would hang the cat).
deadline_ms=${SHUTDOWN_DEADLINE_MS:-40000}
deadline_from=SHUTDOWN_DEADLINE_MS
if [ -n "${SHUTDOWN_DEADLINE_MS_FILE:-}" ]; then
  if [ -n "${SHUTDOWN_DEADLINE_MS+set}" ]; then
    problem "SHUTDOWN_DEADLINE_MS and SHUTDOWN_DEADLINE_MS_FILE are both set; set only one"
  elif [ ! -r "$SHUTDOWN_DEADLINE_MS_FILE" ]; then
    problem "SHUTDOWN_DEADLINE_MS_FILE names $SHUTDOWN_DEADLINE_MS_FILE, which cannot be read"
  elif [ ! -f "$SHUTDOWN_DEADLINE_MS_FILE" ]; then
    problem "SHUTDOWN_DEADLINE_MS_FILE names $SHUTDOWN_DEADLINE_MS_FILE, which is not a regular file"
  else
    deadline_ms=$(cat "$SHUTDOWN_DEADLINE_MS_FILE")
    deadline_from="SHUTDOWN_DEADLINE_MS (from SHUTDOWN_DEADLINE_MS_FILE=$SHUTDOWN_DEADLINE_MS_FILE)"
  fi
fi
# White space around the number (a file's CR and newline) is dropped, as the service does.
deadline_ms=$(printf '%s' "$deadline_ms" | tr -d ' \t\r\n')
case $deadline_ms in
  '' | *[!0-9]*) problem "$deadline_from must be a whole number of milliseconds (got '$deadline_ms')" ;;
  *)
    # The deadline's own exit, or its sentinel's KILL, takes up to 4 s past it
    # (sentinelGraceMs in src/lib/lifecycle/sentinel.ts): 44.5 s passed a check against the
    # deadline alone, and supervisord's KILL came first (no exit 124, no line saying why).
    if [ -n "$stopwaitsecs" ] && [ $((deadline_ms + 4000)) -ge $((stopwaitsecs * 1000)) ]; then
      problem "$deadline_from=$deadline_ms must be at least 4 s below supervisord's stopwaitsecs ($stopwaitsecs s; the deadline's own exit takes up to 4 s), or the service is killed before its own deadline"
    fi
    ;;
esac

# --- healthchecks.io-style ping from cron ----------------------------------------------------
healthchecks_url=${HEALTHCHECKS_URL:-}
schedule=${HEALTHCHECKS_SCHEDULE:-*/5 * * * *}
cron_file=''
if [ -n "$healthchecks_url" ]; then
  if [ -z "${CRON_D_DIR:-}" ]; then
    problem "CRON_D_DIR is not set (where cron reads its entries; the image sets /etc/cron.d)"
  else
    cron_file="$CRON_D_DIR/healthchecks"
  fi
  case $healthchecks_url in
    http://* | https://*) ;;
    *) problem "HEALTHCHECKS_URL must start with http:// or https:// (got '$healthchecks_url')" ;;
  esac
  case $healthchecks_url in
    *"'"* | *%* | *\\* | *[[:space:]]*)
      problem "HEALTHCHECKS_URL must not contain quotes, percent signs, backslashes or spaces (cron and the shell would change it)"
      ;;
  esac
  # shellcheck disable=SC2086 # split the schedule into its fields, without globbing
  fields=$(set -f && set -- $schedule && echo $#)
  bad_field=$(printf '%s\n' "$schedule" | tr -s ' ' '\n' | grep -v '^[0-9*/,-]*$' || true)
  if [ "$fields" != 5 ] || [ -n "$bad_field" ]; then
    problem "HEALTHCHECKS_SCHEDULE must be five cron fields of digits and * / , - (got '$schedule')"
  else
    # Each field within cron's bounds: cron refuses the whole file for one bad value ('bad
    # minute' for 99), and the ping never ran while the container said nothing.
    check_cron_fields "$schedule"
  fi
  [ "$CRON_AUTOSTART" = true ] ||
    problem "HEALTHCHECKS_URL is set but CRON_AUTOSTART=$CRON_AUTOSTART: nothing would run the ping"
  case ${HEALTH_PORT:-} in
    *[!0-9]*) problem "HEALTH_PORT must be a port number (got '$HEALTH_PORT')" ;;
  esac
  case ${HEALTH_HOST:-} in
    *[!0-9A-Za-z.:_[\]-]*)
      problem "HEALTH_HOST must be an address or a host name, for the ping's health check (got '$HEALTH_HOST')"
      ;;
  esac
  # With the endpoint off, the ping's check asks supervisord, whose supervisorctl reads
  # SUPERVISOR_CONF and the variables it expands: the cron line carries them, quoted.
  if [ "${HEALTH_PORT:-0}" = 0 ]; then
    for name in $unquotable; do
      problem "$name must not contain quotes, percent signs or backslashes with HEALTH_PORT=0 and HEALTHCHECKS_URL set (the ping's check passes it through cron)"
    done
  fi
fi

# --- where the container writes ----------------------------------------------------------------
# With a read-only root file system (docker run --read-only, compose read_only: true, Kubernetes'
# readOnlyRootFilesystem) these need a tmpfs or a volume; say which, rather than fail later in
# mkdir or in a traceback of supervisord's.
# True when DIR is a directory that can be written, or can be made by mkdir -p.
writable_dir() {
  dir=$1
  while [ ! -e "$dir" ] && [ "$dir" != / ]; do dir=$(dirname "$dir"); done
  [ -d "$dir" ] && [ -w "$dir" ]
}
read_only_hint() {
  echo "on a read-only root file system, mount a tmpfs on it or a parent (docker run --tmpfs $1; compose: tmpfs: [$1])"
}
uid=$(id -u)
if [ "$uid" != 0 ]; then
  # Not root (docker run --user, Kubernetes' runAsUser): only a command given as arguments runs.
  [ $# -gt 0 ] ||
    problem "the container runs as uid $uid, not root (docker run --user, Kubernetes runAsUser): supervisord starts as root and runs the service as APP_USER=$APP_USER itself, and cron needs root; start the container as root (the service never runs as root)"
else
  writable_dir "$SUPERVISOR_RUN_DIR" ||
    problem "SUPERVISOR_RUN_DIR=$SUPERVISOR_RUN_DIR cannot be written (supervisord's socket and pid file): $(read_only_hint /run)"
  if [ $# -eq 0 ]; then
    # supervisord (Python's tempfile) needs a writable temporary directory to start at all.
    tmp_ok=false
    for tmp in "${TMPDIR:-}" /tmp /var/tmp; do
      if [ -n "$tmp" ] && [ -d "$tmp" ] && [ -w "$tmp" ]; then tmp_ok=true; fi
    done
    [ "$tmp_ok" = true ] ||
      problem "no writable temporary directory (TMPDIR, /tmp, /var/tmp), which supervisord needs: $(read_only_hint /tmp)"
  fi
  if [ -n "$cron_file" ] && ! writable_dir "$CRON_D_DIR"; then
    problem "CRON_D_DIR=$CRON_D_DIR cannot be written (HEALTHCHECKS_URL's cron entry): $(read_only_hint "$CRON_D_DIR")"
  fi
fi
fail_if_problems

# Replaces this script with its command (ENTRYPOINT_DRY_RUN=1: prints it instead).
finish() {
  if [ "${ENTRYPOINT_DRY_RUN:-0}" = 1 ]; then
    printf 'exec'
    printf ' %s' "$@"
    printf '\n'
    exit 0
  fi
  exec "$@"
}
# As another user than root only a command given as arguments runs (above): nothing of
# supervisord's or cron's to prepare, and no right to.
[ "$uid" = 0 ] || finish "$@"

if [ -n "$cron_file" ]; then
  # Retries cover a blip at the pinged end; --max-time bounds each attempt, so a run always
  # ends well before the next one. The ping is sent only while the service reports itself live
  # (its endpoint, or with HEALTH_PORT=0 supervisord's RUNNING): silence raises the alarm.
  ping="curl -fsS --max-time 10 --retry 5 --retry-delay 2 -o /dev/null '$healthchecks_url'"
  cron_user=$APP_USER
  if [ -n "${HEALTH_PORT:-}" ] && [ "$HEALTH_PORT" != 0 ]; then
    # The HEALTHCHECK's own script: it asks the address the endpoint listens on (HEALTH_HOST).
    check="HEALTH_PORT=$HEALTH_PORT HEALTH_HOST=${HEALTH_HOST:-127.0.0.1} HEALTHCHECK_MAX_TIME_S=5"
  else
    # The endpoint off: the same script asks supervisord whether the service is RUNNING, as
    # root (its socket is root's alone). Unchecked, the ping went on while the service was
    # stopped or restarting in a loop: a container that looked alive from outside.
    check="HEALTH_PORT=0 HEALTHCHECK_MAX_TIME_S=5 ${supervisor_env% }"
    cron_user=root
  fi
  ping="$check sh $APP_DIR/docker/healthcheck.sh && $ping"
  mkdir -p "$CRON_D_DIR"
  # cron.d lines carry the user; cron ignores files that are group- or world-writable.
  printf '# Written by entrypoint.sh from HEALTHCHECKS_URL; rewritten at every start.\n%s %s %s\n' \
    "$schedule" "$cron_user" "$ping" >"$cron_file.tmp"
  chmod 0644 "$cron_file.tmp"
  mv "$cron_file.tmp" "$cron_file"
  echo "entrypoint: healthchecks ping scheduled ($schedule) in $cron_file" >&2
elif [ -n "${CRON_D_DIR:-}" ] && [ -e "$CRON_D_DIR/healthchecks" ]; then
  # The container's file system outlives a restart with a changed environment.
  rm -f "$CRON_D_DIR/healthchecks"
  echo "entrypoint: HEALTHCHECKS_URL is unset; removed $CRON_D_DIR/healthchecks" >&2
fi

# --- directories -----------------------------------------------------------------------------
mkdir -p "$SUPERVISOR_RUN_DIR"
chmod 0755 "$SUPERVISOR_RUN_DIR"
# The service's own (READY_FILE, which supervisord.conf puts there): an earlier start's marker
# must not pass for this one's.
mkdir -p "$SUPERVISOR_RUN_DIR/app"
rm -f "$SUPERVISOR_RUN_DIR/app/ready"
chown "$APP_USER" "$SUPERVISOR_RUN_DIR/app"
chmod 0755 "$SUPERVISOR_RUN_DIR/app"

if [ $# -eq 0 ]; then
  # supervisord in this process (PID 1), exiting 1 when its listener stopped it because the
  # service gave up (docker/supervisord-main.py); plain supervisord would exit 0.
  set -- python3 "$APP_DIR/docker/supervisord-main.py" -n -c "$SUPERVISOR_CONF"
  # docker run / podman run stop with KILL after 10 s unless told: the service may need its
  # whole deadline. compose's stop_grace_period (60 s) covers it; say so for the others.
  echo "entrypoint: stop this container with a grace period above $((${stopwaitsecs:-45} + 5)) s (docker stop -t 60, docker run --stop-timeout 60); the engine's default 10 s can kill the service mid-shutdown" >&2
fi
finish "$@"
