#!/usr/bin/env python3
"""supervisord event listener: stops supervisord when a watched program ends for good.

With a failure (the container exits 1), when the program gives up, in one of two ways:
- FATAL: supervisord stopped retrying it after too many fast failures (startretries);
- a crash loop: it exited unexpectedly CRASH_LOOP_LIMIT times (default 10) within
  CRASH_LOOP_WINDOW_S seconds (default 600). supervisord backs off only while a program is
  starting; one that crashes after startsecs is restarted at once, for ever, and looks alive;
- a start-up loop: NEVER_READY_LIMIT (default 3) unexpected exits in a row of runs that never
  got ready. A start-up that hangs (to STARTUP_TIMEOUT_MS, 120 s) or fails slowly passes
  startsecs and exits too seldom for the crash-loop window (about 4.6 exits in 600 s): it was
  restarted for ever, each run live to the health check, none doing any work. With
  --ready-file=PATH only (supervisord.conf gives the service READY_FILE=PATH): the service
  writes its pid there once ready, and a run whose pid is not there at its exit never got ready.
Each unexpected exit is logged with its counts, so a loop is visible before it is cut short.

Without a failure (the container exits 0), when the program exits 0 by itself: a requested stop
that did not come through supervisord (a TERM sent to the service alone). supervisord leaves it
down (autorestart=unexpected), and a container that kept running without its service would look
alive: to `docker ps`, and to the cron job that pings a healthchecks service.
(`supervisorctl stop` is no exit of its own: the program is STOPPED, not EXITED, and stays down
in a running container, for an operator at work in it.)

Left alone, the container would keep running without its service (or restarting it in a
loop). Instead the listener writes its reason to $SUPERVISOR_RUN_DIR/fatal-exit and stops
supervisord; docker/supervisord-main.py then exits 1, so the container ends with a failure and
its restart policy (on-failure, unless-stopped) starts a fresh one with the engine's back-off.

Usage (supervisord.conf): command=python3 fatal-listener.py [--ready-file=PATH] PROGRAM [PROGRAM...]
with events=PROCESS_STATE_FATAL,PROCESS_STATE_EXITED. Speaks the listener protocol on
stdin/stdout (http://supervisord.org/events.html); its messages go to stderr. Standard library
only, so it runs on any python3 (supervisor itself is Python).
"""

import errno
import os
import signal
import stat
import sys
import time


def log(message):
    sys.stderr.write("fatal-listener: %s\n" % message)
    sys.stderr.flush()


def parse_tokens(text):
    """'a:1 b:2' -> {'a': '1', 'b': '2'}"""
    return dict(token.split(":", 1) for token in text.split() if ":" in token)


def positive_int(name, default):
    text = os.environ.get(name, "") or str(default)
    if not text.isdigit() or int(text) < 1:
        log("%s must be a whole number above 0 (got %r); using %d" % (name, text, default))
        return default
    return int(text)


def stop_supervisord(reason):
    """Stops supervisord (its parent); supervisord-main.py then exits 0."""
    log("%s; stopping supervisord (pid %d)" % (reason, os.getppid()))
    os.kill(os.getppid(), signal.SIGTERM)


def give_up(reason):
    """Leaves the reason for supervisord-main.py, then stops supervisord (exit 1)."""
    run_dir = os.environ.get("SUPERVISOR_RUN_DIR", "")
    if run_dir:
        try:
            with open(os.path.join(run_dir, "fatal-exit"), "w", encoding="utf-8") as f:
                f.write(reason + "\n")
        except OSError as error:
            log("cannot write %s/fatal-exit (%s); supervisord will exit 0" % (run_dir, error))
    log("%s; stopping supervisord (pid %d) so the container exits with a failure and its "
        "restart policy takes over" % (reason, os.getppid()))
    os.kill(os.getppid(), signal.SIGTERM)


def reached_ready(ready_file, pid):
    """Whether the run of `pid` got ready: its pid is what READY_FILE holds.

    The listener runs as root and the file is in a directory the service's user owns, so it
    reads only a regular file, not through a link, and no more than a pid's worth: a FIFO put
    there would block this read (and with it every check of this listener) for good, a link to
    /dev/zero would fill its memory, a link to a root-only file would be opened as root."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(ready_file, flags)
    except OSError as error:
        if error.errno != errno.ENOENT:  # no file: the run never got ready, nothing to say
            log("%s cannot be read (%s); the run counts as never ready"
                % (ready_file, error.strerror))
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            log("%s is not a regular file; the run counts as never ready" % ready_file)
            return False
        return os.read(fd, 32).decode("utf-8", "replace").strip() == pid
    except OSError:
        return False
    finally:
        os.close(fd)


def main(argv):
    options = [arg for arg in argv[1:] if arg.startswith("--")]
    watched = set(arg for arg in argv[1:] if not arg.startswith("--"))
    ready_file = ""
    for option in options:
        if option.startswith("--ready-file="):
            ready_file = option[len("--ready-file="):]
        else:
            log("unknown option %s" % option)
            return 2
    if not watched:
        log("usage: fatal-listener.py [--ready-file=PATH] PROGRAM [PROGRAM...]")
        return 2
    if "SUPERVISOR_ENABLED" not in os.environ:
        log("not started by supervisord (SUPERVISOR_ENABLED unset); refusing to run")
        return 2
    limit = positive_int("CRASH_LOOP_LIMIT", 10)
    window = positive_int("CRASH_LOOP_WINDOW_S", 600)
    never_ready_limit = positive_int("NEVER_READY_LIMIT", 3)
    exits = {program: [] for program in watched}
    never_ready = {program: 0 for program in watched}
    stopping = False
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        header_line = stdin.readline()
        if not header_line:
            return 0  # supervisord closed our stdin: it is shutting down
        headers = parse_tokens(header_line.decode("utf-8", "replace"))
        payload = stdin.read(int(headers.get("len", "0")))
        fields = parse_tokens(payload.decode("utf-8", "replace").split("\n", 1)[0])
        program = fields.get("processname")
        event = headers.get("eventname")
        if program in watched and not stopping:
            if event == "PROCESS_STATE_FATAL":
                stopping = True
                give_up("%s entered FATAL (too many fast failures)" % program)
            elif event == "PROCESS_STATE_EXITED" and fields.get("expected") == "1":
                stopping = True
                stop_supervisord("%s exited 0 by itself (a requested stop); the container ends "
                                 "with it" % program)
            elif event == "PROCESS_STATE_EXITED" and fields.get("expected") == "0":
                now = time.monotonic()
                recent = [t for t in exits[program] if now - t < window] + [now]
                exits[program] = recent
                log("%s exited unexpectedly: %d in the last %d s (the container gives up at %d)"
                    % (program, len(recent), window, limit))
                if ready_file:
                    if reached_ready(ready_file, fields.get("pid", "")):
                        never_ready[program] = 0
                    else:
                        never_ready[program] += 1
                        log("%s exited before it got ready: %d runs in a row (the container "
                            "gives up at %d)" % (program, never_ready[program], never_ready_limit))
                if len(recent) >= limit:
                    stopping = True
                    give_up("%s crash loop: %d unexpected exits within %d s"
                            % (program, len(recent), window))
                elif ready_file and never_ready[program] >= never_ready_limit:
                    stopping = True
                    give_up("%s start-up loop: %d runs in a row exited before they got ready"
                            % (program, never_ready[program]))
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
