"""Regenerate bookworm.json.gz: real dpkg data and a real usage trace from a debootstrapped Debian 12.

    debootstrap --variant=minbase bookworm ROOT http://deb.debian.org/debian
    chroot ROOT apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tzdata openssl curl
    python3 make_data.py ROOT   # needs strace; writes bookworm.json.gz beside this file

The file holds the dpkg status, every .list, the diversions, the image's tree (path, kind, size, link target;
contents are not kept) and the file accesses strace saw while the commands below ran in the chroot.
"""

import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = [
    [
        "python3",
        "-c",
        "import ssl, json, urllib.request, datetime; ssl.create_default_context();"
        " print(datetime.datetime.now().astimezone())",
    ],
    ["sh", "-c", "date >/dev/null; cat /etc/os-release >/dev/null"],
]
CALL = re.compile(r'^\d+\s+(\w+)\((?:AT_FDCWD|\d+<[^>]*>|\d+),?\s*"([^"]+)".*\)\s+=\s+(-?\d+)')
EXEC = re.compile(r'^\d+\s+execve\("([^"]+)".*(?:\)\s+=\s+(-?\d+)|<unfinished \.\.\.>)')
LOOKUP = {
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
}
OPEN = {"open", "openat", "openat2"}


def trace(root: str) -> dict[str, set[str]]:
    paths: dict[str, set[str]] = {}
    for argv in RUNS:
        with tempfile.NamedTemporaryFile() as out:
            subprocess.run(
                ["strace", "-f", "-qq", "-e", "trace=%file,%process", "-o", out.name, "chroot", root, *argv],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            started = False
            for line in Path(out.name).read_text().splitlines():
                m = EXEC.match(line)
                if m:
                    started = started or m.group(1) != "/usr/sbin/chroot"
                    if started and m.group(1) != "/usr/sbin/chroot":
                        paths.setdefault(m.group(1), set()).add(
                            "exec" if m.group(2) in ("0", None) else "missing"
                        )
                    continue
                if not started:
                    continue
                m = CALL.match(line)
                if not m or m.group(1) == "execve":
                    continue
                call, path, rc = m.groups()
                if not path.startswith("/"):
                    continue
                if call in OPEN:
                    kind = "open" if int(rc) >= 0 else "missing"
                elif call in LOOKUP:
                    kind = "lookup" if int(rc) >= 0 else "missing"
                else:
                    continue
                paths.setdefault(path, set()).add(kind)
    return paths


def main(root: str) -> None:
    r = Path(root)
    info = r / "var/lib/dpkg/info"
    lists = {p.name[: -len(".list")]: p.read_text() for p in sorted(info.glob("*.list"))}
    tree = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            hp = os.path.join(dirpath, name)
            st = os.lstat(hp)
            rel = "/" + os.path.relpath(hp, root)
            if os.path.islink(hp):
                tree.append([rel, "l", 0, os.readlink(hp)])
            elif os.path.isdir(hp):
                tree.append([rel, "d", 0, None])
            elif os.path.isfile(hp):
                # small text files the planner reads (.pth hooks, diversions) keep their content
                keep = rel.endswith(".pth") or rel == "/var/lib/dpkg/diversions"
                tree.append([rel, "f", st.st_size, Path(hp).read_text() if keep else None])
    doc = {
        "status": (info.parent / "status").read_text(),
        "lists": lists,
        "tree": tree,
        "usage": {p: sorted(k) for p, k in sorted(trace(root).items())},
        "drivers": [" ".join(a) for a in RUNS],
    }
    out = Path(__file__).with_name("bookworm.json.gz")
    out.write_bytes(gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0))
    print(out, out.stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1])
