"""The sandbox a profiled app runs in: a fresh overlay over the unpacked image, and processes started in it.

Every run gets its own overlay (lower = the read-only extracted image, upper/work in a temp dir), so the
image is never written and the tracer's filesystem mark sees only this run. Processes start under bubblewrap
(pid/mount/ipc/uts namespaces, /proc, /dev, tmpfs /tmp, the host's network so the app's ports answer on
127.0.0.1), runc (a bundle made from the image config, without a network namespace) or podman (`--rootfs`
on the overlay, host network). Each process is held before exec until `on_ready` has run, so tracers attach
before the app's first instruction and the runtime's own set-up never counts as evidence. `enter` runs a
further command inside a running bwrap sandbox's namespaces (nsenter).

Teardown is unconditional (`Sandbox.close`, also on exceptions and KeyboardInterrupt): every process is
killed (its pid namespace with it), then the overlay is unmounted and the temp dir removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import posixpath
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from honed.errors import EnvironmentMissingError, ToolError, UserError
from honed.profile.strace import STRACE_ARGS

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MNT_DETACH = 2


# ------------------------------------------------------------------------------------------- run spec


@dataclass(frozen=True, slots=True)
class RunSpec:
    """How to start one process in the image: argv, environment, working dir and numeric user."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0


def image_process(config: Mapping[str, Any], rootfs: Path) -> RunSpec:
    """The process the image config describes (entrypoint + cmd, env, workdir, user). `argv` may be empty."""
    cfg = config.get("config", config) or {}
    argv = tuple(cfg.get("Entrypoint") or ()) + tuple(cfg.get("Cmd") or ())
    env: dict[str, str] = {}
    for item in cfg.get("Env") or ():
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    uid, gid, home = resolve_user(cfg.get("User") or "", rootfs)
    env.setdefault("HOME", home)
    env.setdefault("HOSTNAME", "honed")
    cwd = cfg.get("WorkingDir") or "/"
    return RunSpec(argv=argv, env=env, cwd=cwd, uid=uid, gid=gid)


def exposed_ports(config: Mapping[str, Any]) -> list[int]:
    cfg = config.get("config", config) or {}
    ports = []
    for key in sorted(cfg.get("ExposedPorts") or {}):
        num, _, proto = key.partition("/")
        if proto in ("", "tcp") and num.isdigit():
            ports.append(int(num))
    return ports


def _db(rootfs: Path, name: str) -> list[list[str]]:
    try:
        text = (rootfs / "etc" / name).read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(user: str, rootfs: Path) -> tuple[int, int, str]:
    """`name`, `uid`, `name:group`, `uid:gid` → (uid, gid, home), looked up in the image's own databases."""
    if not user:
        return 0, 0, "/root"
    name, _, group = user.partition(":")
    passwd = _db(rootfs, "passwd")
    uid = gid = None
    home = "/"
    for row in passwd:
        if len(row) >= 6 and (row[0] == name or row[2] == name):
            uid, gid, home = int(row[2]), int(row[3]), row[5] or "/"
            break
    if uid is None:
        if not name.isdigit():
            raise UserError(f"the image's user {name!r} is not in its /etc/passwd")
        uid, gid = int(name), int(name)
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            rows = [r for r in _db(rootfs, "group") if len(r) >= 3 and r[0] == group]
            if not rows:
                raise UserError(f"the image's group {group!r} is not in its /etc/group")
            gid = int(rows[0][2])
    return uid, int(gid if gid is not None else uid), home


# -------------------------------------------------------------------------------------------- mounts


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


def set_subreaper(on: bool) -> bool:
    """Make this process the reaper of orphans (returns the previous setting). bwrap's outer process exits
    without reaping its namespace's init; as subreaper we collect it instead of leaving a zombie to the
    host's init (which, in some CI sandboxes, reaps late)."""
    libc = _libc()
    prev = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(prev), 0, 0, 0)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)
    return bool(prev.value)


def reap(pid: int, timeout: float = 2.0) -> None:
    """Collect `pid` if it became our child (orphan under subreaper); ignore it if it is not ours."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def sweep_stale() -> list[Path]:
    """Unmount and remove the sandboxes of runs whose process is gone (killed before it could tear down)."""
    swept = []
    base = Path(tempfile.gettempdir())
    for d in base.glob("honed-run-*-*"):
        pid = d.name.split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        merged = d / "merged"
        if is_mounted(merged):
            unmount(merged)
        if not is_mounted(merged):
            shutil.rmtree(d, ignore_errors=True)
            swept.append(d)
    if swept:
        log.info("removed %d sandbox(es) left by killed runs", len(swept))
    return swept


def reap_zombie_children(keep: set[int]) -> None:
    """Collect exited children we inherited as subreaper (podman's conmon), except `keep` (Popen owns those)."""
    try:
        kids = [
            int(x)
            for t in os.listdir("/proc/self/task")
            for x in Path(f"/proc/self/task/{t}/children").read_text().split()
        ]
    except OSError:
        return
    for pid in kids:
        if pid in keep:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rpartition(")")[2].split()[0] == "Z"
            if zombie:
                os.waitpid(pid, os.WNOHANG)
        except (OSError, ChildProcessError):
            pass


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    for p in (lower, upper, work):
        if any(c in str(p) for c in ",:\\"):
            raise UserError(f"cannot overlay-mount {p}: the path contains ',', ':' or '\\'")
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if _libc().mount(b"honed-overlay", str(target).encode(), b"overlay", 0, opts) != 0:
        e = ctypes.get_errno()
        raise EnvironmentMissingError(
            f"cannot mount an overlay on {target}: {os.strerror(e)}",
            hint="profiling needs root and overlayfs (modprobe overlay)",
        )


def unmount(target: Path) -> None:
    libc = _libc()
    for flags in (0, 0, _MNT_DETACH):
        if libc.umount2(str(target).encode(), flags) == 0:
            return
        if ctypes.get_errno() == 22:  # EINVAL: not mounted
            return
        time.sleep(0.05)
    log.warning("could not unmount %s: %s", target, os.strerror(ctypes.get_errno()))


def is_mounted(target: Path) -> bool:
    t = str(target)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == t for line in f)


# ------------------------------------------------------------------------------------------ processes


def require_tools(backend: str, trace: str) -> None:
    """Exit 4 with what to install when a piece is missing."""
    if os.geteuid() != 0:
        raise EnvironmentMissingError(
            "profiling needs root (overlay mounts, namespaces and fanotify)", hint="run as root, e.g. in CI"
        )
    need = {"bwrap": ("bwrap", "bubblewrap"), "runc": ("runc", "runc"), "podman": ("podman", "podman")}[
        backend
    ]
    if shutil.which(need[0]) is None:
        raise EnvironmentMissingError(f"{need[0]} not found", hint=f"apt-get install {need[1]}")
    if trace in ("strace", "both") and shutil.which("strace") is None:
        raise EnvironmentMissingError(
            "strace not found (needed for --trace strace)", hint="apt-get install strace"
        )


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _ignores_sigterm(pid: int) -> bool:
    """The kernel drops SIGTERM for this process: ignored, or it is a pid namespace's init (a container's
    pid 1) without a handler — e.g. a Python server run by runc. Then a stop grace is only lost time."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        bit = 1 << (signal.SIGTERM - 1)
        if int(fields["SigIgn"], 16) & bit:
            return True
        return fields["NSpid"].split()[-1] == "1" and not int(fields["SigCgt"], 16) & bit
    except (OSError, KeyError, ValueError):
        return False


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        for c in _children(stack.pop()):
            out.append(c)
            stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _PidWaiter:
    """The parts of Popen that Proc uses, for a process that became our child by reparenting (runc)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1 if _alive(self.pid) is False else None
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


class Proc:
    """One process started in the sandbox. `init_pid` is the host pid of its namespace's init (bwrap) or of
    the container process (runc); killing it takes every process in the namespace along."""

    def __init__(self, popen: subprocess.Popen[bytes] | _PidWaiter, init_pid: int, name: str) -> None:
        self.popen = popen
        self.init_pid = init_pid
        self.name = name
        self.killed = False

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float) -> None:
        """SIGTERM to the app's processes, then SIGKILL to the namespace after `grace` seconds."""
        if self.popen.poll() is not None:
            self.kill()
            return
        if not _ignores_sigterm(self.init_pid):
            targets = [self.init_pid]  # as `docker stop`: the container's pid 1 passes it on as it likes
        elif _comm(self.init_pid) == "bwrap":
            # bwrap's own pid 1 ignores SIGTERM; the app is its child
            targets = [p for p in _children(self.init_pid) if not _ignores_sigterm(p)]
        else:
            targets = []  # the app is pid 1 (runc, podman) with no handler: waiting would change nothing
        if not targets:
            self.kill()
            return
        for pid in targets:
            _kill(pid, signal.SIGTERM)
        if self.wait(grace) is None:
            self.kill()

    def kill(self) -> None:
        self.killed = self.killed or self.popen.poll() is None
        _kill(self.init_pid, signal.SIGKILL)  # the pid namespace dies with its init
        # bwrap's outer process reaps its init and exits by itself; kill it only if it does not, so that no
        # zombie is left for the host's init to collect.
        if self.wait(2) is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.wait(10) is None:
                log.warning("process %s (%d) did not exit after SIGKILL", self.name, self.popen.pid)
        deadline = time.monotonic() + 5
        while _alive(self.init_pid) and time.monotonic() < deadline:
            time.sleep(0.01)


class EnteredProc(Proc):
    """A process started inside a running sandbox's namespaces (nsenter): killing it must not kill that
    sandbox, so it kills its own process tree instead of the namespace's init."""

    def kill(self) -> None:
        self.killed = self.killed or self.popen.poll() is None
        for pid in reversed(descendants(self.popen.pid)):
            _kill(pid, signal.SIGKILL)
        _kill(self.popen.pid, signal.SIGKILL)
        self.wait(10)


class Sandbox:
    """A fresh overlay over `lower` and the processes started on it. Use as a context manager."""

    def __init__(self, lower: Path, *, backend: str = "bwrap", hostname: str = "honed") -> None:
        self.lower = Path(lower)
        self.backend = backend
        self.hostname = hostname
        sweep_stale()
        # the pid in the name lets a later run clean up after one that was SIGKILLed
        self.tmp = Path(tempfile.mkdtemp(prefix=f"honed-run-{os.getpid()}-"))
        self.merged = self.tmp / "merged"
        self.procs: list[Proc] = []
        self._helpers: list[subprocess.Popen[bytes]] = []
        self._mounted = False
        self._n = 0
        self._prev_subreaper: bool | None = None
        self._containers: list[str] = []
        self._pm_dir: Path | None = None

    def __enter__(self) -> Sandbox:
        try:
            self._prev_subreaper = set_subreaper(True)
            for d in ("upper", "work", "merged", "logs"):
                (self.tmp / d).mkdir()
            mount_overlay(self.lower, self.tmp / "upper", self.tmp / "work", self.merged)
            self._mounted = True
            self._runtime_files()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_path(self, name: str) -> Path:
        return self.tmp / "logs" / name

    def track(self, popen: subprocess.Popen[bytes]) -> None:
        """A helper process (strace) to be killed at teardown if still running."""
        self._helpers.append(popen)

    # -- starting processes --------------------------------------------------------------------------
    def launch(
        self,
        spec: RunSpec,
        *,
        name: str,
        stdout: IO[bytes] | int,
        stderr: IO[bytes] | int,
        on_ready: Callable[[int], None] | None = None,
    ) -> Proc:
        if not spec.argv:
            raise UserError("nothing to run: empty command")
        self._ensure_cwd(spec.cwd)
        if self.backend == "bwrap":
            return self._launch_bwrap(spec, name=name, stdout=stdout, stderr=stderr, on_ready=on_ready)
        if self.backend == "runc":
            return self._launch_runc(spec, name=name, stdout=stdout, stderr=stderr, on_ready=on_ready)
        return self._launch_podman(spec, name=name, stdout=stdout, stderr=stderr, on_ready=on_ready)

    def _runtime_files(self) -> None:
        """Write /etc/hosts and /etc/resolv.conf in the overlay, as docker/podman/runtimes on k8s always provide
        them over the image's: images rarely ship /etc/hosts (Debian's base has none), so without it
        `getaddrinfo("localhost")` fails here but not where the app runs. Never in the image (upper dir only),
        and our own writes are not the app's evidence."""
        from honed.image.rootfs import DirRootFS

        rootfs = DirRootFS(self.merged)
        try:
            resolv = Path("/etc/resolv.conf").read_text()  # the host network is shared: its resolver works
        except OSError:
            resolv = ""
        hosts = f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{self.hostname}\n"
        for name, text in (("/etc/hosts", hosts), ("/etc/resolv.conf", resolv)):
            try:
                path = rootfs.host_path(rootfs.resolve(name))  # a symlinked /etc stays inside the root
                if path.parent.is_dir() and not path.is_dir():
                    path.unlink(missing_ok=True)  # a copy-up of the image's file, never the lower one
                    path.write_text(text)
                    path.chmod(0o644)
            except OSError:
                pass  # no /etc at all (a static binary's image): nothing reads it

    def _ensure_cwd(self, cwd: str) -> None:
        """Create a missing working dir (root-owned, 0755) in the overlay, as docker/runc/podman do at start:
        images built without a RUN after WORKDIR, or that deleted it, still run there."""
        from honed.image.rootfs import DirRootFS

        if not self._mounted:
            return
        rootfs = DirRootFS(self.merged)
        path = rootfs.host_path(rootfs.resolve(cwd))  # symlinks resolved inside the root, never on the host
        try:
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError:
            pass  # e.g. a file in the way: the runtime then reports it

    def enter(
        self,
        target: Proc,
        spec: RunSpec,
        *,
        name: str,
        stdout: IO[bytes] | int,
        stderr: IO[bytes] | int,
        strace_out: Path | None = None,
    ) -> Proc:
        """Run `spec` inside the namespaces of the running bwrap sandbox `target` (its pid, mount — so its
        /tmp —, ipc and uts namespaces, its root and its working dir, which is the image's): an in-image test
        beside the app. (`nsenter --wd=DIR` would resolve DIR on the host, hence plain `-w`.)"""
        argv = [
            "nsenter",
            "-t",
            str(target.init_pid),
            "-m",
            "-u",
            "-i",
            "-p",
            "-r",
            "-w",
            "--",
            *spec.argv,
        ]
        if strace_out is not None:
            argv = ["strace", *STRACE_ARGS, "-o", str(strace_out), *argv]
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=dict(spec.env),
            start_new_session=True,
        )
        proc = EnteredProc(popen, popen.pid, name)
        self.procs.append(proc)
        return proc

    def _launch_bwrap(
        self, spec: RunSpec, *, name: str, stdout: Any, stderr: Any, on_ready: Callable[[int], None] | None
    ) -> Proc:
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        argv = [
            "bwrap", "--bind", str(self.merged), "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", self.hostname,
            "--die-with-parent", "--clearenv", "--chdir", spec.cwd,
            "--info-fd", str(info_w), "--block-fd", str(block_r),
        ]  # fmt: skip
        if spec.uid or spec.gid:
            argv += ["--unshare-user", "--uid", str(spec.uid), "--gid", str(spec.gid)]
        for k, v in sorted(spec.env.items()):
            argv += ["--setenv", k, v]
        argv += ["--", *spec.argv]
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                pass_fds=(info_w, block_r), start_new_session=True,
            )  # fmt: skip
        except BaseException:
            for fd in (info_r, info_w, block_r, block_w):
                os.close(fd)
            raise
        os.close(info_w)
        os.close(block_r)
        try:
            info = b""
            while b"}" not in info:
                chunk = os.read(info_r, 4096)
                if not chunk:
                    break
                info += chunk
            try:
                init_pid = int(json.loads(info)["child-pid"])
            except (ValueError, KeyError):
                popen.wait(10)
                raise ToolError(f"bwrap failed to start {name} (exit {popen.returncode})") from None
            proc = Proc(popen, init_pid, name)
            self.procs.append(proc)
            if on_ready is not None:
                on_ready(init_pid)
            os.write(block_w, b"go")
        finally:
            os.close(info_r)
            os.close(block_w)
        return proc

    def _launch_runc(
        self, spec: RunSpec, *, name: str, stdout: Any, stderr: Any, on_ready: Callable[[int], None] | None
    ) -> Proc:
        self._n += 1
        cid = f"honed-{os.getpid()}-{self.tmp.name[-8:]}-{self._n}"
        bundle = self.tmp / f"bundle-{self._n}"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(_runc_config(spec, self.merged, self.hostname)))
        pidfile = bundle / "pid"
        base = ["runc", "--root", str(self.tmp / "runc-state")]
        # create, then start: between the two the container process waits right before exec, after runc's
        # own set-up (it reads the image's /etc/passwd and /etc/group), so `on_ready` can drop that set-up
        # from the evidence. The process outlives `runc create` and, as we are subreaper, becomes our child:
        # we get its exit status like bwrap's.
        create = subprocess.run(
            [*base, "create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True, check=False,
        )  # fmt: skip
        if create.returncode != 0 or not pidfile.exists():
            raise ToolError(f"runc create failed for {name} (exit {create.returncode})")
        init_pid = int(pidfile.read_text().strip())
        proc = Proc(_PidWaiter(init_pid), init_pid, name)
        self.procs.append(proc)
        if on_ready is not None:
            on_ready(init_pid)
        started = subprocess.run([*base, "start", cid], capture_output=True, check=False)
        if started.returncode != 0:
            raise ToolError(
                f"runc start failed for {name}: {started.stderr.decode(errors='replace').strip()}"
            )
        return proc

    def _podman(self) -> list[str]:
        # podman's own storage for this run only; its runroot path must stay under 50 characters
        if self._pm_dir is None:
            self._pm_dir = Path(tempfile.mkdtemp(prefix=f"honed-pm-{os.getpid()}-", dir="/tmp"))
        return ["podman", "--root", str(self._pm_dir / "root"), "--runroot", str(self._pm_dir / "run")]

    def _podman_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if not env.get("CONTAINERS_CONF"):
            # podman's defaults (crun, systemd cgroups) fail on plain CI runners; these settings work (DESIGN §4)
            conf = self.tmp / "containers.conf"
            if not conf.exists():
                conf.write_text(PODMAN_CONF)
            env["CONTAINERS_CONF"] = str(conf)
        return env

    def _launch_podman(
        self, spec: RunSpec, *, name: str, stdout: Any, stderr: Any, on_ready: Callable[[int], None] | None
    ) -> Proc:
        self._n += 1
        cname = f"honed-{os.getpid()}-{self.tmp.name[-8:]}-{self._n}"
        env = self._podman_env()
        argv = [
            *self._podman(), "create", "--name", cname, "--network", "host", "--tmpfs", "/tmp",
            "--hostname", self.hostname, "--user", f"{spec.uid}:{spec.gid}", "-w", spec.cwd, "--env-host=false",
        ]  # fmt: skip
        for k, v in sorted(spec.env.items()):
            argv += ["--env", f"{k}={v}"]
        argv += ["--rootfs", str(self.merged), *spec.argv]
        # create + init leave the process held before exec (runc create underneath), like the other backends
        for step in (argv, [*self._podman(), "init", cname]):
            res = subprocess.run(step, capture_output=True, env=env, check=False)
            if res.returncode != 0:
                raise ToolError(
                    f"podman failed to start {name}: {res.stderr.decode(errors='replace').strip()}"
                )
        self._containers.append(cname)
        res = subprocess.run(
            [*self._podman(), "inspect", "--format", "{{.State.Pid}}", cname], capture_output=True, env=env
        )
        init_pid = int(res.stdout.decode().strip() or 0)
        if on_ready is not None and init_pid:
            on_ready(init_pid)
        popen = subprocess.Popen(
            [*self._podman(), "start", "--attach", cname],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, start_new_session=True,
        )  # fmt: skip
        proc = Proc(popen, init_pid, name)
        self.procs.append(proc)
        return proc

    # -- teardown --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill everything, unmount, remove the temp dir. Idempotent; never raises for cleanup trouble."""
        for proc in self.procs:
            try:
                proc.kill()
            except Exception as e:  # keep tearing down the rest
                log.warning("killing %s: %s", proc.name, e)
        for h in self._helpers:
            if h.poll() is None:
                _kill(h.pid, signal.SIGKILL)
            try:
                h.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.backend == "runc" and (self.tmp / "runc-state").exists():
            for i in range(1, self._n + 1):
                cid = f"honed-{os.getpid()}-{self.tmp.name[-8:]}-{i}"
                subprocess.run(
                    ["runc", "--root", str(self.tmp / "runc-state"), "delete", "-f", cid],
                    capture_output=True, check=False,
                )  # fmt: skip
        if self._containers:
            env = self._podman_env()
            for cname in self._containers:
                subprocess.run([*self._podman(), "rm", "-f", "-t", "0", cname], capture_output=True, env=env)
            subprocess.run([*self._podman(), "system", "reset", "-f"], capture_output=True, env=env)
        if self._pm_dir is not None:
            with open("/proc/self/mounts") as f:  # podman may leave its shm/overlay mounts there
                stale = [ln.split()[1] for ln in f if ln.split()[1].startswith(str(self._pm_dir) + "/")]
            for m in sorted(stale, reverse=True):
                unmount(Path(m))
            shutil.rmtree(self._pm_dir, ignore_errors=True)
            self._pm_dir = None
        for proc in self.procs:
            reap(proc.init_pid)
        if self._containers:
            time.sleep(0.2)  # conmon exits just after its container
            self._containers = []
        reap_zombie_children({p.popen.pid for p in self.procs} | {h.pid for h in self._helpers})
        if self._prev_subreaper is not None:
            set_subreaper(self._prev_subreaper)
            self._prev_subreaper = None
        if self._mounted:
            unmount(self.merged)
            self._mounted = is_mounted(self.merged)
        if not self._mounted:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def image_path(self, host_path: str) -> str:
        """A path the tracer reported → the path inside the image."""
        m = str(self.merged)
        if host_path == m:
            return "/"
        if host_path.startswith(m + "/"):
            return host_path[len(m) :]
        return posixpath.normpath(host_path)


PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def _runc_config(spec: RunSpec, root: Path, hostname: str) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": spec.uid, "gid": spec.gid},
            "args": list(spec.argv),
            "env": [f"{k}={v}" for k, v in sorted(spec.env.items())],
            "cwd": spec.cwd,
            "noNewPrivileges": True,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
        "root": {"path": str(root), "readonly": False},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777"],
            },
        ],  # fmt: skip
        "linux": {
            # no network namespace: the app's ports are on the host's loopback
            "namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
