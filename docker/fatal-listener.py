#!/usr/bin/env python3
"""supervisord event listener: stops supervisord when a watched program enters FATAL.

FATAL means supervisord gave up on the program after too many fast failures (startretries).
Left alone, the container would keep running without its service; stopping supervisord
instead ends the container, and Docker's restart policy (restart: unless-stopped) starts a
fresh one with its own back-off.

Usage (supervisord.conf): command=python3 fatal-listener.py PROGRAM [PROGRAM...]
with events=PROCESS_STATE_FATAL. Speaks the listener protocol on stdin/stdout
(http://supervisord.org/events.html); its messages go to stderr. Standard library only, so it
runs on any python3 (supervisor itself is Python).
"""

import os
import signal
import sys


def log(message):
    sys.stderr.write("fatal-listener: %s\n" % message)
    sys.stderr.flush()


def parse_tokens(text):
    """'a:1 b:2' -> {'a': '1', 'b': '2'}"""
    return dict(token.split(":", 1) for token in text.split() if ":" in token)


def main(argv):
    watched = set(argv[1:])
    if not watched:
        log("usage: fatal-listener.py PROGRAM [PROGRAM...]")
        return 2
    if "SUPERVISOR_ENABLED" not in os.environ:
        log("not started by supervisord (SUPERVISOR_ENABLED unset); refusing to run")
        return 2
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
        if headers.get("eventname") == "PROCESS_STATE_FATAL" and program in watched:
            log(
                "%s entered FATAL (too many fast failures); stopping supervisord (pid %d) "
                "so the container exits and its restart policy takes over"
                % (program, os.getppid())
            )
            os.kill(os.getppid(), signal.SIGTERM)
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
