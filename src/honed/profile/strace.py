"""strace as the second tracer: it sees what fanotify cannot — the path a program asked for (symlinks and
all), stat/access/readlink checks, and failed lookups (ENOENT), which verify's repair loop needs. It costs
more (every file syscall stops the tracee), so it runs only when asked (`trace="strace"|"both"`).

strace attaches to the sandbox's init while it is held before exec, follows every fork, and prints with
`-y`, so each `AT_FDCWD</cwd>` and `3</dir>` names the directory a relative path is relative to — as the
container sees it, because strace reads those links from the traced process's own root.
"""

from __future__ import annotations

import codecs
import logging
import posixpath
import re
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STRACE_ARGS = ("-f", "-qq", "-y", "-s", "4096", "-e", "trace=%file,%process", "-e", "signal=none")

# syscall -> (index of the dirfd argument or None, kind)
_SYSCALLS: dict[str, tuple[int | None, str]] = {
    "execve": (None, "exec"),
    "execveat": (0, "exec"),
    "open": (None, "open"),
    "openat": (0, "open"),
    "openat2": (0, "open"),
    "creat": (None, "open"),
    "stat": (None, "lookup"),
    "lstat": (None, "lookup"),
    "newfstatat": (0, "lookup"),
    "fstatat64": (0, "lookup"),
    "statx": (0, "lookup"),
    "access": (None, "lookup"),
    "faccessat": (0, "lookup"),
    "faccessat2": (0, "lookup"),
    "readlink": (None, "lookup"),
    "readlinkat": (0, "lookup"),
    "chdir": (None, "chdir"),
}
_LINE = re.compile(r"^(\d+) +(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)$", re.S)
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
_RESULT = re.compile(r"^(-?\d+|\?)(?:<[^>]*>)?(?: (E[A-Z0-9]+))?")
_END = re.compile(r"\) +=  ?")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DIRFD = re.compile(r"^(?:AT_FDCWD|\d+)<([^>]*)>")


@dataclass(frozen=True, slots=True)
class Access:
    """One file syscall of the app: the absolute path as the container saw it, the kind, and errno."""

    pid: int
    kind: str  # exec, open, lookup, chdir
    path: str
    error: str | None  # None on success, else the errno name (ENOENT…)


def _unescape(s: str) -> str:
    try:
        return codecs.escape_decode(s.encode("latin-1", "backslashreplace"))[0].decode(
            "utf-8", "surrogateescape"
        )
    except Exception:  # a malformed escape: keep it literal rather than lose the path
        return s


def parse(
    lines: Iterable[str], *, initial_cwd: str = "/", init_pid: int | None = None, skip_execs: int = 0
) -> Iterator[Access]:
    """File accesses from `strace -f -y` output of a sandbox whose init (bwrap's pid 1) is `init_pid`.

    Only what happens after the app's first successful exec counts, and never the init's own calls: the
    runtime's set-up (closing fds, the $PATH search for the command) is not the app's evidence. clone's
    return value is a pid of the sandbox's namespace while strace names host pids, so children are
    recognised by not being the init rather than by their parent. `skip_execs` ignores that many successful
    execs first (strace started on a host-side launcher such as nsenter: its own loading is not evidence).
    """
    pending: dict[int, str] = {}
    cwd: dict[int, str] = {}
    started = False
    for raw in lines:
        m = _LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if pid == init_pid:
            continue
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")]
            continue
        r = _RESUMED.match(rest)
        if r:
            rest = pending.pop(pid, r.group(1) + "(") + r.group(2)
        c = _CALL.match(rest)
        if not c:
            continue
        name, tail = c.group(1), c.group(2)
        spec = _SYSCALLS.get(name)
        if spec is None:
            continue
        ends = list(_END.finditer(tail))  # strace pads before " = RESULT"
        if not ends:
            continue
        args, result = tail[: ends[-1].start()], tail[ends[-1].end() :]
        res = _RESULT.match(result)
        if not res:
            continue
        ret, err = res.group(1), res.group(2)
        dirfd_idx, kind = spec
        ok = ret != "?" and not ret.startswith("-")
        if not started:
            if not (kind == "exec" and ok):
                continue
            if skip_execs > 0:
                skip_execs -= 1
                continue
            started = True
        base = None
        d = _DIRFD.match(args)
        if d and dirfd_idx == 0:
            base = _unescape(d.group(1))
            if args.startswith("AT_FDCWD"):
                cwd[pid] = base
        s = _STR.search(args)
        if not s:
            continue
        path = _unescape(s.group(1))
        if not path:  # fstatat(fd, "", AT_EMPTY_PATH): a stat of an open file, seen at its open
            continue
        if not path.startswith("/"):
            path = posixpath.join(base or cwd.get(pid, initial_cwd), path)
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = path[1:]
        if kind == "chdir":
            if ok:
                cwd[pid] = path
            continue
        yield Access(pid=pid, kind=kind, path=path, error=None if ok else (err or "E?"))


def attach(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Start strace on `pid` (held before exec) and return once it is attached."""
    proc = subprocess.Popen(
        ["strace", *STRACE_ARGS, "-o", str(out), "-p", str(pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                traced = any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f)
        except OSError:
            break
        if traced:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    err = (
        proc.stderr.read().decode(errors="replace").strip() if proc.poll() is not None and proc.stderr else ""
    )
    log.warning("strace did not attach to %d: %s", pid, err or "timeout")
    return proc
