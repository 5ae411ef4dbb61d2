#!/usr/bin/env python3
"""compare.py EXPECTED ACTUAL: is ACTUAL (a checkout written by the Windows build) what
EXPECTED (`git archive REV | tar -x` on Linux) holds, as a checkout on a filesystem without
symlinks or exec bits writes it? Every regular file byte for byte, every symlink a regular
file holding its target (git's `core.symlinks=false`), every directory; nothing more, and
ACTUAL's top-level `.git` aside. Exit 0 if so; else the differences, and exit 1."""

import os
import sys


def entries(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            rel_dir = ""
        if rel_dir == "" and ".git" in dirnames:
            dirnames.remove(".git")
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.join(rel_dir, name) if rel_dir else name
            if os.path.islink(path):
                out[rel] = ("file", os.readlink(path).encode())
            elif os.path.isdir(path):
                out[rel] = ("dir", None)
            else:
                with open(path, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


def main():
    expected, actual = entries(sys.argv[1]), entries(sys.argv[2])
    problems = []
    for path in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(path), actual.get(path)
        if want is None:
            problems.append(f"extra: {path}")
        elif got is None:
            problems.append(f"missing: {path}")
        elif want != got:
            problems.append(f"differs: {path} ({want[0]} expected, {got[0]} found)")
    for line in problems[:20]:
        print(line)
    if problems:
        print(f"{len(problems)} difference(s) between {sys.argv[1]} and {sys.argv[2]}")
        return 1
    print(f"same: {len(expected)} entries")
    return 0


sys.exit(main())
