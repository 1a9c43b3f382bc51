"""One traced run: start the app in a fresh sandbox, wait for its port, run the drivers, stop it, collect.

`run_drivers` is what both `honed profile` and `honed verify` call. It never raises because a driver failed
or the app crashed — verify needs exactly that run's evidence — but reports it in `RunResult.error` and the
driver results. It raises for bad input (nothing to run) and a missing environment (exit 4).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from honed.errors import EnvironmentMissingError, ProfileError, UserError
from honed.model import Access, DriverResult
from honed.profile import strace as strace_mod
from honed.profile.evidence import Evidence
from honed.profile.fanotify import FanotifyTracer, FanotifyUnavailable, in_other_pidns
from honed.profile.options import HttpProbe, ProfileOptions
from honed.profile.sandbox import (
    Proc,
    RunSpec,
    Sandbox,
    descendants,
    exposed_ports,
    image_process,
    require_tools,
)

log = logging.getLogger(__name__)

TAIL = 2000  # characters of output kept per driver
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RunResult:
    """Evidence and driver results of one run (image paths, before ownership is looked up)."""

    tracer: str
    seconds: float
    drivers: tuple[DriverResult, ...]
    paths: Mapping[str, frozenset[Access]]
    error: str | None = None
    events: int = 0  # raw tracer events seen

    @property
    def ok(self) -> bool:
        return self.error is None and all(d.ok for d in self.drivers)

    def missing(self) -> tuple[str, ...]:
        return tuple(p for p, a in self.paths.items() if Access.MISSING in a)

    def failed_drivers(self) -> tuple[DriverResult, ...]:
        return tuple(d for d in self.drivers if not d.ok)


def _tail(path: Path, n: int = TAIL) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n * 4))
            return f.read().decode("utf-8", "replace")[-n:]
    except OSError:
        return ""


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _listen_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP `port` (v4 and v6) in our network namespace, which the sandbox shares."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                out.add(cols[9])
    return out


def listens_in(port: int, root_pid: int) -> bool:
    """Does a process of the sandbox rooted at `root_pid` hold the listening socket of `port`?"""
    inodes = _listen_inodes(port)
    if not inodes:
        return False
    for pid in (root_pid, *descendants(root_pid)):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def _resolve_target(target: Any, config: Mapping[str, Any] | None) -> tuple[Path, Mapping[str, Any]]:
    """An `honed.image.Image`, a RootFS with `.root`, or a directory → (extracted root dir, image config)."""
    if isinstance(target, (str, os.PathLike)):  # first: a Path has a `.root` too ("/")
        return Path(target), config or {}
    if hasattr(target, "rootfs") and callable(target.rootfs):
        return Path(target.rootfs().root), config if config is not None else (target.config or {})
    if hasattr(target, "root"):
        return Path(target.root), config or {}
    return Path(target), config or {}


def healthcheck_argv(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The argv of the image config's Healthcheck (docker's schema; OCI configs have none): CMD or CMD-SHELL."""
    cfg = config.get("config", config) or {}
    test = list((cfg.get("Healthcheck") or {}).get("Test") or [])
    if len(test) > 1 and test[0] == "CMD":
        return tuple(str(a) for a in test[1:])
    if len(test) > 1 and test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", str(test[1]))
    return ()  # NONE, inherited, or empty


_NO_PROXY = urllib.request.build_opener(
    urllib.request.ProxyHandler({})
)  # probes go to loopback, never a proxy


def http_get(url: str, timeout: float, limit: int = TAIL) -> tuple[int | None, str]:
    try:
        with _NO_PROXY.open(url, timeout=timeout) as resp:
            return resp.status, resp.read(limit).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(limit).decode("utf-8", "replace") if e.fp else ""
    except (urllib.error.URLError, OSError) as e:
        return None, str(getattr(e, "reason", e))


def run_drivers(
    target: Any,
    options: ProfileOptions | None = None,
    *,
    trace: str | None = None,
    config: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the image's app with `options`' drivers in a fresh traced sandbox; always torn down."""
    options = options or ProfileOptions()
    trace = trace or options.trace
    if trace != options.trace:
        options = replace(options, trace=trace)
    rootfs, cfg = _resolve_target(target, config)
    if not rootfs.is_dir() or rootfs.resolve() == Path("/"):
        raise UserError(f"root filesystem {rootfs} is not an extracted image directory")
    spec = image_process(cfg, rootfs)
    if options.command:
        spec = replace(spec, argv=tuple(options.command))
    for k, v in options.env:
        spec = replace(spec, env={**spec.env, k: v})
    if not spec.argv and not options.tests:
        raise UserError(
            "nothing to run: the image has no entrypoint or cmd, and no --test was given",
            hint="pass --test CMD (run inside the image) or a command",
        )
    if not spec.argv and options.has_app_drivers:
        raise UserError(
            "--http-probe, --host-test and --duration need the app, but the image has no entrypoint or cmd"
        )
    if trace in ("strace", "both") and options.backend != "bwrap":
        raise UserError(f"--trace {trace} needs the bwrap backend (strace attaches before the app's exec)")
    require_tools(options.backend, trace)
    return _Run(rootfs, spec, cfg, options, trace, progress or (lambda _m: None)).run()


class _Run:
    def __init__(
        self,
        rootfs: Path,
        spec: RunSpec,
        cfg: Mapping[str, Any],
        options: ProfileOptions,
        trace: str,
        progress: Progress,
    ) -> None:
        self.rootfs, self.spec, self.cfg, self.o, self.trace, self.progress = (
            rootfs,
            spec,
            cfg,
            options,
            trace,
            progress,
        )
        self.drivers: list[DriverResult] = []
        self.straces: list[tuple[subprocess.Popen[bytes], Path, str, int]] = []
        self.sb: Sandbox | None = None
        self.app: Proc | None = None
        self.entered_straces: list[tuple[Path, str]] = []
        self.fan: FanotifyTracer | None = None
        self.n = 0

    # -- tracing hooks ---------------------------------------------------------------------------------
    def _on_ready(self, cwd: str) -> Callable[[int], None]:
        """Called while the new process is held before its exec."""

        def ready(pid: int) -> None:
            assert self.sb is not None
            if self.fan is not None:
                self.fan.forget_pid(pid)  # runc reads /etc/passwd and /etc/group for its set-up
            if self.trace in ("strace", "both"):
                out = self.sb.log_path(f"strace-{self.n}.txt")
                p = strace_mod.attach(pid, out)
                self.sb.track(p)
                self.straces.append((p, out, cwd, pid))

        return ready

    def _enter(self, app: Proc, spec: RunSpec) -> tuple[Proc, Path]:
        """An in-image test inside the running app's sandbox (its pid namespace, its /tmp)."""
        assert self.sb is not None
        self.n += 1
        out = self.sb.log_path(f"{self.n}-test.log")
        trace_out = None
        if self.trace in ("strace", "both"):
            trace_out = self.sb.log_path(f"strace-{self.n}.txt")
        with open(out, "wb") as f:
            proc = self.sb.enter(app, spec, name="test", stdout=f, stderr=f, strace_out=trace_out)
        if trace_out is not None:
            # strace is nsenter's parent here: it ends with the test; its first exec is nsenter itself
            self.entered_straces.append((trace_out, spec.cwd))
        return proc, out

    def _launch(self, spec: RunSpec, name: str) -> tuple[Proc, Path]:
        assert self.sb is not None
        self.n += 1
        out = self.sb.log_path(f"{self.n}-{name}.log")
        with open(out, "wb") as f:  # the child keeps its own copy of the fd
            proc = self.sb.launch(spec, name=name, stdout=f, stderr=f, on_ready=self._on_ready(spec.cwd))
        return proc, out

    # -- the run ---------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        t0 = time.monotonic()
        error: str | None = None
        with Sandbox(self.rootfs, backend=self.o.backend) as sb:
            self.sb = sb
            try:
                if self.trace in ("fanotify", "both"):
                    self.fan = FanotifyTracer(str(sb.merged), filter_pid=in_other_pidns())
                    try:
                        self.fan.start()
                    except FanotifyUnavailable as e:
                        raise EnvironmentMissingError(
                            f"fanotify is not available: {e.strerror}",
                            hint="needs root and a kernel with FAN_MARK_FILESYSTEM (5.1+); or use --trace strace",
                        ) from None
                app: Proc | None = None
                app_log: Path | None = None
                if self.spec.argv:
                    self._ports_free()
                    self.progress(f"starting {shlex.join(self.spec.argv)}")
                    app, app_log = self._launch(self.spec, "app")
                    self.app = app
                    error = self._wait_ready(app, app_log)
                if error is None:
                    self._drive(app)
                if app is not None and app_log is not None:
                    self._stop_app(app, app_log)
            finally:
                for proc in sb.procs:
                    proc.kill()
                for st, _out, _cwd, _pid in self.straces:
                    try:
                        st.wait(10)
                    except subprocess.TimeoutExpired:
                        st.kill()
                        st.wait()
                if self.fan is not None:
                    self.fan.stop()
            seconds = time.monotonic() - t0
            ev = Evidence(self.rootfs)
            if self.fan is not None:
                if self.fan.overflowed:
                    log.warning("fanotify queue overflowed: evidence may be incomplete")
                ev.add_fanotify({sb.image_path(p): m for p, m in self.fan.events.items()})
            for _p, out, cwd, pid in self.straces:
                with open(out, errors="replace") as f:
                    ev.add_strace(strace_mod.parse(f, initial_cwd=cwd, init_pid=pid))
            for out, cwd in self.entered_straces:
                with open(out, errors="replace") as f:
                    ev.add_strace(strace_mod.parse(f, initial_cwd=cwd, skip_execs=1))
        return RunResult(
            tracer=self.trace,
            seconds=seconds,
            drivers=tuple(self.drivers),
            paths=ev.result(),
            error=error,
            events=self.fan.count if self.fan else 0,
        )

    def _ports(self) -> list[int]:
        ports = sorted({p.port for p in self.o.http_probes} | ({self.o.port} if self.o.port else set()))
        if not ports and not self.o.command:  # an overriding command need not be the image's server
            ready = getattr(self, "_ready_port", None)
            ports = [ready] if ready is not None else self._exposed()[:1]
        return ports

    def _exposed(self) -> list[int]:
        """The image's ExposedPorts, numerically: with several (80 and 443, 8080 and 9229), any of them
        answering means the app is up — many apps open only some of what the image declares."""
        if self.o.http_probes or self.o.port or self.o.command:
            return []
        return sorted(exposed_ports(self.cfg))

    def _ports_free(self) -> None:
        """The app's ports must be free, or probes would reach another process and credit its files to
        nobody. A port still busy from a run that is just ending gets the start timeout to close."""
        deadline = time.monotonic() + self.o.start_timeout
        busy = [p for p in self._ports() if _port_open(p)]
        while busy and time.monotonic() < deadline:
            time.sleep(0.2)
            busy = [p for p in busy if _port_open(p)]
        if busy:
            raise ProfileError(
                f"port {', '.join(map(str, busy))} on 127.0.0.1 is already in use by another process",
                hint="stop it, or run the app on another port",
            )

    def _wait_ready(self, app: Proc, app_log: Path) -> str | None:
        """None once the app answers on its ports (or, without ports, is still up after a moment)."""
        ports = self._ports()
        any_of = self._exposed() if len(self._exposed()) > 1 else []
        deadline = time.monotonic() + self.o.start_timeout
        pending = list(any_of or ports)
        if pending:
            self.progress(f"waiting for port {', '.join(map(str, pending))}")
        settle = time.monotonic() + (0.5 if not pending else 0)
        while True:
            # the port must answer *and* be our app's listener: another process on the same port would
            # otherwise be probed in its place (the app then fails with "address in use", reported below)
            opened = [p for p in pending if _port_open(p) and listens_in(p, app.init_pid)]
            if any_of and opened:
                self._ready_port: int | None = opened[0]
                pending = []
            elif not any_of:
                pending = [p for p in pending if p not in opened]
            rc = app.returncode
            if not pending and time.monotonic() >= settle:
                if rc not in (None, 0):
                    break
                return None
            if rc == 0 and not ports:
                # a one-shot app (batch job, `CMD ["bash"]` without a terminal) that finished cleanly: its
                # run is evidence, and the tests then run in fresh sandboxes (exiting 0 later is fine too)
                return None
            if rc is not None:
                break
            if time.monotonic() > deadline:
                return (
                    f"the app did not open {'any of ports' if any_of else 'port'} {', '.join(map(str, pending))} "
                    f"within {self.o.start_timeout:g} s; "
                    f"last output: {_tail(app_log, 500).strip() or '(none)'}"
                )
            time.sleep(0.05)
        rc = app.returncode
        what = "exited" if rc == 0 else f"crashed (exit {rc})"
        where = f" before opening port {', '.join(map(str, pending))}" if pending else " on start"
        self.drivers.append(
            DriverResult(
                kind="app",
                command=shlex.join(self.spec.argv),
                ok=False,
                exit_code=rc,
                output_tail=_tail(app_log),
            )
        )
        return f"the app {what}{where}; last output: {_tail(app_log, 500).strip() or '(none)'}"

    def _drive(self, app: Proc | None) -> None:
        o = self.o
        for cmd in o.tests:
            self._in_image_test(cmd)
        ports = self._ports()
        for probe in self._probes():
            self._http(probe)
        if o.openapi and ports:
            self._openapi(ports[0], o.openapi)
        for cmd in o.host_tests:
            self._host_test(cmd, ports[0] if ports else None)
        self._healthcheck(app)
        if o.duration is not None and app is not None:
            self.progress(f"letting the app run for {o.duration:g} s")
            t = time.monotonic()
            rc = app.wait(o.duration)
            self.drivers.append(
                DriverResult(
                    kind="duration",
                    command=f"{o.duration:g}s",
                    ok=rc in (None, 0),
                    exit_code=rc,
                    seconds=time.monotonic() - t,
                )
            )

    def _probes(self) -> list[HttpProbe]:
        seen: list[HttpProbe] = []
        for p in self.o.http_probes:
            for probe in (HttpProbe(p.port, "/"), p):
                if probe not in seen:
                    seen.append(probe)
        return seen

    def _healthcheck(self, app: Proc | None) -> None:
        """The image's HEALTHCHECK, run like an in-image test while the app runs: docker runs it all the time
        and restarts an unhealthy app, so what it needs (curl's libraries, not just its binary) is used. A
        failing attempt is retried twice, a second apart (docker's default retries; the app may be warming)."""
        argv = healthcheck_argv(self.cfg)
        if not argv or app is None or app.returncode is not None or self.o.command:
            return
        cmd = shlex.join(argv)
        hc = (self.cfg.get("config", self.cfg) or {}).get("Healthcheck") or {}
        limit = min(self.o.timeout, (hc.get("Timeout") or 30_000_000_000) / 1e9)  # docker's default: 30 s
        for attempt in range(3):
            self._in_image_test(cmd, kind="healthcheck", timeout=limit)
            if self.drivers[-1].ok or attempt == 2:
                return
            self.drivers.pop()
            time.sleep(1)

    def _in_image_test(self, cmd: str, kind: str = "test", timeout: float | None = None) -> None:
        try:
            argv = tuple(shlex.split(cmd))
        except ValueError as e:
            raise UserError(f"cannot parse --test {cmd!r}: {e}") from None
        if not argv:
            raise UserError("empty --test command")
        self.progress(f"test: {cmd}")
        t = time.monotonic()
        spec = replace(self.spec, argv=argv)
        app = self.app
        if (
            self.o.backend == "bwrap"
            and app is not None
            and app.returncode is None
            and not (spec.uid or spec.gid)  # a user-namespaced sandbox is entered by a fresh one instead
        ):
            proc, out = self._enter(app, spec)
        else:
            proc, out = self._launch(spec, "test")
        limit = self.o.timeout if timeout is None else timeout
        rc = proc.wait(limit)
        tail = ""
        if rc is None:
            proc.kill()
            tail = f"\n[honed: killed after {limit:g} s timeout]"
        self.drivers.append(
            DriverResult(
                kind=kind,
                command=cmd,
                ok=rc == 0,
                exit_code=rc,
                seconds=time.monotonic() - t,
                output_tail=(_tail(out) + tail)[-TAIL:],
            )
        )

    def _http(self, probe: HttpProbe) -> None:
        url = f"http://127.0.0.1:{probe.port}{probe.path}"
        self.progress(f"GET {url}")
        t = time.monotonic()
        status, body = http_get(url, min(30.0, self.o.timeout))
        self.drivers.append(
            DriverResult(
                kind="http",
                command=f"GET {url}",
                ok=status is not None and status < 500,
                exit_code=status,
                seconds=time.monotonic() - t,
                output_tail=body[-TAIL:],
            )
        )

    def _openapi(self, port: int, spec_path: str) -> None:
        url = f"http://127.0.0.1:{port}/{spec_path.lstrip('/')}"
        status, body = http_get(url, min(30.0, self.o.timeout), limit=16 << 20)
        doc: Any = None
        if status == 200:
            try:
                doc = json.loads(body)
            except json.JSONDecodeError:
                import yaml  # OpenAPI documents are as often YAML

                try:
                    doc = yaml.safe_load(body)
                except yaml.YAMLError:
                    doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            self.drivers.append(
                DriverResult(kind="http", command=f"GET {url}", ok=False, exit_code=status,
                             output_tail="not an OpenAPI document (JSON or YAML with 'paths')")
            )  # fmt: skip
            return
        for path, ops in sorted(doc["paths"].items()):
            if "{" in path or not isinstance(ops, dict) or "get" not in ops:
                continue  # operations needing parameters are not guessed
            self._http(HttpProbe(port, path))

    def _host_test(self, cmd: str, port: int | None) -> None:
        env = dict(os.environ)
        if port:
            env["HONED_TARGET_URL"] = f"http://127.0.0.1:{port}"
        env["NO_PROXY"] = env["no_proxy"] = ",".join(
            filter(None, ["127.0.0.1", "localhost", env.get("NO_PROXY")])
        )
        self.progress(f"host test: {cmd}")
        t = time.monotonic()
        p = subprocess.Popen(
            cmd, shell=True, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = p.communicate(timeout=self.o.timeout)
            rc: int | None = p.returncode
            extra = ""
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            rc = None
            extra = f"\n[honed: killed after {self.o.timeout:g} s timeout]"
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
        self.drivers.append(
            DriverResult(
                kind="host-test",
                command=cmd,
                ok=rc == 0,
                exit_code=rc,
                seconds=time.monotonic() - t,
                output_tail=(out.decode("utf-8", "replace") + extra)[-TAIL:],
            )
        )

    def _stop_app(self, app: Proc, app_log: Path) -> None:
        if any(d.kind == "app" for d in self.drivers):
            return  # already recorded as crashed
        rc_before = app.returncode
        app.stop(self.o.stop_grace)
        # exiting on its own with an error while the drivers ran is a failure; being stopped by us is not
        crashed = rc_before not in (None, 0)
        self.drivers.append(
            DriverResult(
                kind="app",
                command=shlex.join(self.spec.argv),
                ok=not crashed,
                exit_code=rc_before if rc_before is not None else app.returncode,
                output_tail=_tail(app_log),
            )
        )
