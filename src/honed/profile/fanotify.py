"""A fanotify tracer over one mounted filesystem (the fresh overlay of a profiled run).

fanotify with a *filesystem* mark sees every open and exec on that superblock, whoever does it and through
whichever mount copy (bwrap and runc copy the mount into a new namespace, so a mount mark would miss them).
The overlay is created fresh per run, so nothing but the sandboxed app touches it. Events carry an open fd;
its /proc/self/fd link names the file. The reader runs in a thread and does only that, so the app is not
slowed down (measured in bench/bench_profile.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# <linux/fanotify.h>
FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_UNLIMITED_QUEUE = 0x10
FAN_MARK_ADD = 0x01
FAN_MARK_FILESYSTEM = 0x100
FAN_OPEN = 0x20
FAN_OPEN_EXEC = 0x1000
FAN_Q_OVERFLOW = 0x4000
FAN_NOFD = -1
_O_RDONLY, _O_LARGEFILE, _O_CLOEXEC = 0, 0o100000, 0o2000000
_AT_FDCWD = -100

_META = struct.Struct("=IBBHQii")  # struct fanotify_event_metadata
_BUF = 256 * 1024


class FanotifyUnavailable(OSError):
    """fanotify could not be set up (no CAP_SYS_ADMIN, kernel without FAN_MARK_FILESYSTEM…)."""


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    lib.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    lib.fanotify_init.restype = ctypes.c_int
    lib.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
    lib.fanotify_mark.restype = ctypes.c_int
    return lib


def in_other_pidns() -> Callable[[int], bool]:
    """A pid filter: True for processes in another pid namespace than ours (the sandboxed app), or already
    gone; False for host processes (a runtime such as podman reading the image's /etc/passwd to set up)."""
    try:
        own = os.readlink("/proc/self/ns/pid")
    except OSError:
        return lambda _pid: True
    cache: dict[int, bool] = {}

    def accept(pid: int) -> bool:
        got = cache.get(pid)
        if got is None:
            try:
                got = os.readlink(f"/proc/{pid}/ns/pid") != own
            except OSError:
                got = True  # exited before we looked: short-lived processes are the app's
            cache[pid] = got
        return got

    return accept


class FanotifyTracer:
    """Collects `{host_path: mask}` for every open/exec on the filesystem mounted at `mountpoint`.

    Use: `t = FanotifyTracer(mnt); t.start()` before the app runs, `t.forget_pid(pid)` for a process held
    before its exec (its runtime set-up is not evidence), `t.stop()` after the app is gone; `t.events` maps
    the host path (namespace-relative) to the OR of the event masks seen. `filter_pid`, if given, drops
    events from pids it rejects.
    """

    def __init__(self, mountpoint: str, *, filter_pid: Callable[[int], bool] | None = None) -> None:
        self.mountpoint = mountpoint
        self._by_pid: dict[int, dict[str, int]] = {}
        self.overflowed = False
        self.count = 0
        self._filter_pid = filter_pid
        self._fd = -1
        self._stop_r, self._stop_w = -1, -1
        self._bar_r, self._bar_w = -1, -1
        self._bar_done = threading.Event()
        self._bar_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def events(self) -> dict[str, int]:
        """host path → OR of the event masks, over every process."""
        out: dict[str, int] = {}
        for per in self._by_pid.values():
            for path, mask in per.items():
                out[path] = out.get(path, 0) | mask
        return out

    def forget_pid(self, pid: int) -> None:
        """Drop what `pid` did so far (a runtime's set-up before the app's exec): wait until every event
        already queued has been read, then discard that pid's."""
        if self._thread is not None:
            with self._bar_lock:
                self._bar_done.clear()
                os.write(self._bar_w, b"b")
                self._bar_done.wait(30)
        self._by_pid.pop(pid, None)

    def start(self) -> None:
        libc = _libc()
        fd = libc.fanotify_init(
            FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
            _O_RDONLY | _O_LARGEFILE | _O_CLOEXEC,
        )
        if fd < 0:
            e = ctypes.get_errno()
            raise FanotifyUnavailable(e, f"fanotify_init: {os.strerror(e)}")
        rc = libc.fanotify_mark(
            fd,
            FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
            FAN_OPEN | FAN_OPEN_EXEC,
            _AT_FDCWD,
            self.mountpoint.encode(),
        )
        if rc < 0:
            e = ctypes.get_errno()
            os.close(fd)
            raise FanotifyUnavailable(e, f"fanotify_mark {self.mountpoint}: {os.strerror(e)}")
        self._fd = fd
        self._stop_r, self._stop_w = os.pipe()
        self._bar_r, self._bar_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="honed-fanotify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Drain what is queued, then close. Safe to call twice or after a failed start."""
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join()
            self._thread = None
        for fd in (self._fd, self._stop_r, self._stop_w, self._bar_r, self._bar_w):
            if fd >= 0:
                os.close(fd)
        self._fd = self._stop_r = self._stop_w = self._bar_r = self._bar_w = -1

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        poller.register(self._bar_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._fd in ready:
                self._drain()
            if self._bar_r in ready:
                os.read(self._bar_r, 64)
                self._drain()
                self._bar_done.set()
            if self._stop_r in ready:
                self._drain()  # events queued before stop() still count
                return

    def _drain(self) -> None:
        by_pid, filt = self._by_pid, self._filter_pid
        readlink, close = os.readlink, os.close
        while True:
            try:
                buf = os.read(self._fd, _BUF)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            if not buf:
                return
            off = 0
            while off + _META.size <= len(buf):
                event_len, _vers, _res, _mlen, mask, efd, pid = _META.unpack_from(buf, off)
                off += event_len or _META.size
                if mask & FAN_Q_OVERFLOW:
                    self.overflowed = True
                if efd == FAN_NOFD or efd < 0:
                    continue
                try:
                    if filt is None or filt(pid):
                        path = readlink(f"/proc/self/fd/{efd}")
                        events = by_pid.get(pid)
                        if events is None:
                            events = by_pid[pid] = {}
                        events[path] = events.get(path, 0) | mask
                        self.count += 1
                except OSError:
                    pass
                finally:
                    close(efd)
