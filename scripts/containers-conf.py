#!/usr/bin/env python3
"""Sets keys in a containers.conf (TOML) file, keeping every other line as it is.

Usage: containers-conf.py FILE SECTION.KEY=VALUE...
VALUE is written as given (TOML: quote strings). A key already set in its section is
replaced in place; a missing key goes right under its section's header; a missing section is
appended. Running it twice changes nothing. Used by scripts/image.sh.
"""

import os
import re
import sys


def set_key(lines, section, key, value):
    header = re.compile(r"^\s*\[\s*%s\s*\]\s*(#.*)?$" % re.escape(section))
    any_header = re.compile(r"^\s*\[")
    assignment = re.compile(r"^\s*%s\s*=" % re.escape(key))
    wanted = "%s = %s\n" % (key, value)
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.extend(["\n", "[%s]\n" % section, wanted])
        return
    end = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])), len(lines))
    for i in range(start + 1, end):
        if assignment.match(lines[i]):
            lines[i] = wanted
            return
    lines.insert(start + 1, wanted)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path = argv[1]
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    before = list(lines)
    for setting in argv[2:]:
        name, _, value = setting.partition("=")
        section, _, key = name.rpartition(".")
        if not section or not key or not value:
            sys.stderr.write("containers-conf: expected SECTION.KEY=VALUE, got %r\n" % setting)
            return 2
        set_key(lines, section, key, value)
    if lines != before:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(path + ".tmp", path)
        sys.stderr.write("containers-conf: updated %s\n" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
