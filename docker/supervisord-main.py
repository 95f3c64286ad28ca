#!/usr/bin/env python3
"""supervisord, with an exit code that says why it ended (the container's exit code).

Runs Debian's supervisord in this very process (as /usr/bin/supervisord does), so it stays
PID 1 in the container. supervisord itself exits 0 whenever it is stopped; this exits 1 instead
when docker/fatal-listener.py stopped it because the service gave up (FATAL) or kept crashing,
so a restart policy of on-failure or unless-stopped brings the container back, and `docker ps`
shows it failed. The listener leaves its reason in $SUPERVISOR_RUN_DIR/fatal-exit; a stale one
from an earlier run of this container is removed first. Arguments are supervisord's.
"""

import os
import sys

from supervisor.supervisord import main as supervisord_main

FAILED = 1


def marker_path():
    run_dir = os.environ.get("SUPERVISOR_RUN_DIR", "")
    return os.path.join(run_dir, "fatal-exit") if run_dir else None


def main():
    marker = marker_path()
    if marker and os.path.exists(marker):
        os.remove(marker)
    supervisord_main()
    if marker and os.path.exists(marker):
        with open(marker, encoding="utf-8", errors="replace") as f:
            reason = f.read().strip()
        sys.stderr.write("supervisord: exiting %d: %s\n" % (FAILED, reason))
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
