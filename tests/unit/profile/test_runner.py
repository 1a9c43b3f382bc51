"""Real sandboxed runs (bubblewrap + overlay + fanotify/strace) on a tiny rootfs of host binaries."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from honed.errors import ProfileError, UserError
from honed.model import Access
from honed.profile.api import check
from honed.profile.options import HttpProbe, ProfileOptions
from honed.profile.runner import run_drivers

from .conftest import leftovers, needs_sandbox

pytestmark = needs_sandbox

# distinct per pytest process: other sessions may run these tests at the same time
SLEEP = [f"{n}{os.getpid()}.5" for n in range(41, 46)]


def _no_leftovers(*markers: str) -> None:
    mounts, procs = leftovers(*markers)
    assert mounts == [] and procs == []


@pytest.fixture(autouse=True)
def _own_tmp(run_tmp: str) -> Iterator[None]:
    yield
    _no_leftovers(run_tmp)
    assert os.listdir(run_tmp) == []  # the run's temp dir is gone too


def test_test_command_is_traced_through_its_symlinks(tiny_rootfs: Path) -> None:
    r = run_drivers(tiny_rootfs, ProfileOptions(tests=("/usr/bin/mycat /etc/hello.txt",)))
    assert r.ok and r.tracer == "fanotify"
    (d,) = r.drivers
    assert (d.kind, d.ok, d.exit_code, d.output_tail) == ("test", True, 0, "hello\n")
    p = r.paths
    assert p["/etc/hello.txt"] == {Access.OPEN}
    assert p["/usr/bin/cat"] == {Access.EXEC}
    assert p["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"] == {Access.EXEC}
    assert p["/usr/lib/x86_64-linux-gnu/libc.so.6"] == {Access.MAP}
    # symlinks onto used files count as lookups: the link the program was started through, the loader's
    # path; the development link libc.so and merged-/usr directory links do not
    assert p["/usr/bin/mycat"] == {Access.LOOKUP}
    assert p["/usr/lib64/ld-linux-x86-64.so.2"] == {Access.LOOKUP}
    assert "/usr/lib/x86_64-linux-gnu/libc.so" not in p
    assert "/lib64" not in p and "/bin" not in p
    assert "/etc/untouched.txt" not in p and "/usr/bin/sleep" not in p
    assert r.missing() == ()


def test_strace_sees_lookups_and_failed_lookups(tiny_rootfs: Path) -> None:
    opts = ProfileOptions(
        tests=("/bin/sh -c 'cat /etc/hello.txt; [ -e /etc/untouched.txt ]; cat /etc/nope || true'",)
    )
    r = run_drivers(tiny_rootfs, opts, trace="both")
    assert r.ok, r.drivers
    p = r.paths
    assert Access.MISSING in p["/etc/nope"]
    assert "/etc/nope" in r.missing()
    assert Access.LOOKUP in p["/etc/untouched.txt"]  # a stat, never an open
    assert Access.OPEN in p["/etc/hello.txt"]
    assert Access.LOOKUP in p["/usr/bin/sh"] and Access.EXEC in p["/usr/bin/dash"]
    assert "/bin" not in p  # /bin/sh went through the merged-/usr link: not evidence


def test_app_crashing_on_start_reports_its_stderr(tiny_rootfs: Path, free_port: int) -> None:
    opts = ProfileOptions(
        command=("/bin/sh", "-c", "echo config file missing >&2; exit 3"), http_probes=(HttpProbe(free_port),)
    )
    r = run_drivers(tiny_rootfs, opts)
    assert r.error is not None and "exit 3" in r.error and "config file missing" in r.error
    with pytest.raises(ProfileError, match="config file missing"):
        check(r, opts)


def test_a_one_shot_app_that_exits_cleanly_is_evidence_not_a_crash(tiny_rootfs: Path) -> None:
    # `CMD ["bash"]` base images and batch-job images exit 0 at once without a terminal: the tests still run
    cfg = {"config": {"Cmd": ["/bin/sh", "-c", "cat /etc/hello.txt"]}}
    r = run_drivers(tiny_rootfs, ProfileOptions(tests=("cat /etc/untouched.txt",)), config=cfg)
    assert r.error is None
    assert [(d.kind, d.ok, d.exit_code) for d in r.drivers] == [("test", True, 0), ("app", True, 0)]
    assert Access.OPEN in r.paths["/etc/hello.txt"] and Access.OPEN in r.paths["/etc/untouched.txt"]
    crash = run_drivers(
        tiny_rootfs, ProfileOptions(tests=("true",)), config={"config": {"Cmd": ["/bin/sh", "-c", "exit 4"]}}
    )
    assert crash.error is not None and "crashed (exit 4) on start" in crash.error


def test_app_crashing_while_the_tests_run_is_blamed_on_the_app(tiny_rootfs: Path) -> None:
    # the entered test dies with the app's pid namespace; the error named the test ("exit -9") and
    # --allow-failing-tests accepted the run of a crashed app
    app = ("/bin/sh", "-c", "sleep 1.5; echo dying >&2; kill -SEGV $$")
    for allow in (False, True):
        opts = ProfileOptions(command=app, tests=(f"sleep {SLEEP[2]}",), allow_failing_tests=allow)
        r = run_drivers(tiny_rootfs, opts)
        # (under heavy load the crash may come before the tests start: blamed on the app either way)
        with pytest.raises(ProfileError, match=r"the app crashed \(.*\) (while the tests ran|on start).*dying"):
            check(r, opts)
    _no_leftovers(SLEEP[2])


def test_port_that_never_opens_is_a_bounded_wait(tiny_rootfs: Path, free_port: int) -> None:
    opts = ProfileOptions(command=("sleep", SLEEP[0]), http_probes=(HttpProbe(free_port),), start_timeout=1.5)
    t = time.monotonic()
    r = run_drivers(tiny_rootfs, opts)
    assert time.monotonic() - t < 10
    assert r.error is not None and f"port {free_port}" in r.error and "1.5 s" in r.error
    _no_leftovers(SLEEP[0])


def test_hanging_test_is_killed_at_timeout(tiny_rootfs: Path) -> None:
    opts = ProfileOptions(command=("sleep", SLEEP[1]), tests=(f"sleep {SLEEP[2]}",), timeout=1.0)
    t = time.monotonic()
    r = run_drivers(tiny_rootfs, opts)
    assert time.monotonic() - t < 15
    test = next(d for d in r.drivers if d.kind == "test")
    assert not test.ok and test.exit_code is None and "timeout" in test.output_tail
    app = next(d for d in r.drivers if d.kind == "app")
    assert app.ok  # stopped by us, not crashed
    with pytest.raises(ProfileError, match="timed out"):
        check(r, opts)
    _no_leftovers(SLEEP[1], SLEEP[2])


def test_failing_tests_are_an_error_unless_allowed(tiny_rootfs: Path) -> None:
    opts = ProfileOptions(tests=("/bin/sh -c 'echo 1 failed; exit 1'",))
    r = run_drivers(tiny_rootfs, opts)
    assert [(d.ok, d.exit_code) for d in r.drivers] == [(False, 1)]
    with pytest.raises(ProfileError, match="1 failed"):
        check(r, opts)
    check(r, ProfileOptions(tests=opts.tests, allow_failing_tests=True))  # evidence kept, no error
    assert "/usr/bin/dash" in r.paths


def test_duration_runs_the_entrypoint_and_stops_it(tiny_rootfs: Path) -> None:
    cfg = {"config": {"Entrypoint": ["/usr/bin/sleep"], "Cmd": [SLEEP[3]], "WorkingDir": "/app"}}
    t = time.monotonic()
    r = run_drivers(tiny_rootfs, ProfileOptions(duration=0.5, stop_grace=1.0), config=cfg)
    assert time.monotonic() - t < 10
    assert [d.kind for d in r.drivers] == ["duration", "app"]
    assert all(d.ok for d in r.drivers)
    assert r.paths["/usr/bin/sleep"] == {Access.EXEC}
    _no_leftovers(SLEEP[3])


def test_interrupt_tears_everything_down(tiny_rootfs: Path) -> None:
    def interrupt(msg: str) -> None:
        if msg.startswith("test:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_drivers(
            tiny_rootfs, ProfileOptions(command=("sleep", SLEEP[4]), tests=("true",)), progress=interrupt
        )
    _no_leftovers(SLEEP[4])


def test_nothing_to_run_is_a_user_error(tiny_rootfs: Path) -> None:
    with pytest.raises(UserError, match="no entrypoint or cmd"):
        run_drivers(tiny_rootfs, ProfileOptions(), config={"config": {"Env": ["PATH=/bin"]}})
    with pytest.raises(UserError, match="need the app"):
        run_drivers(tiny_rootfs, ProfileOptions(tests=("true",), duration=1))


@pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc")
def test_runc_backend_gives_the_same_evidence_without_runtime_setup(tiny_rootfs: Path) -> None:
    opts = ProfileOptions(tests=("/usr/bin/mycat /etc/hello.txt", "/bin/sh -c 'exit 7'"), backend="runc")
    r = run_drivers(tiny_rootfs, opts)
    assert [(d.ok, d.exit_code, d.output_tail) for d in r.drivers] == [(True, 0, "hello\n"), (False, 7, "")]
    assert r.paths["/etc/hello.txt"] == {Access.OPEN} and r.paths["/usr/bin/mycat"] == {Access.LOOKUP}
    # runc reads the image's /etc/passwd and /etc/group while setting up: that is not the app's evidence
    assert "/etc/passwd" not in r.paths and "/etc/group" not in r.paths


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_backend(tiny_rootfs: Path) -> None:
    opts = ProfileOptions(tests=("/usr/bin/mycat /etc/hello.txt", "/bin/sh -c 'exit 7'"), backend="podman")
    r = run_drivers(tiny_rootfs, opts)
    assert [(d.ok, d.exit_code, d.output_tail) for d in r.drivers] == [(True, 0, "hello\n"), (False, 7, "")]
    assert r.paths["/etc/hello.txt"] == {Access.OPEN} and r.paths["/usr/bin/cat"] == {Access.EXEC}
    # podman itself reads the image's /etc/passwd on the host side to resolve the user: not evidence
    assert "/etc/passwd" not in r.paths and "/etc/group" not in r.paths
    assert _children() == []


def _children() -> list[Path]:
    """Our direct children's /proc/PID/comm files whose process exited but was not collected."""
    out = []
    for t in os.listdir("/proc/self/task"):
        for pid in Path(f"/proc/self/task/{t}/children").read_text().split():
            comm = Path(f"/proc/{pid}/comm")
            if comm.exists() and comm.read_text().strip() == "conmon":
                out.append(Path(comm.read_text().strip()))
    return out


def test_stale_sandboxes_of_killed_runs_are_swept(tiny_rootfs: Path, run_tmp: str) -> None:
    import subprocess

    from honed.profile.sandbox import Sandbox, is_mounted

    # a run in a child process that is SIGKILLed while its overlay is mounted
    code = (
        "import os, signal, sys; sys.path[:0] = " + repr(sys.path) + "\n"
        "import tempfile; tempfile.tempdir = " + repr(run_tmp) + "\n"
        "from honed.profile.sandbox import Sandbox\n"
        f"sb = Sandbox({str(tiny_rootfs)!r}).__enter__(); print(sb.tmp, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    stale = Path(out)
    assert is_mounted(stale / "merged")
    with Sandbox(tiny_rootfs):
        pass
    assert not stale.exists() and not is_mounted(stale / "merged")


@pytest.mark.parametrize("backend", ["bwrap", "runc"])
def test_runs_as_the_image_user(tiny_rootfs: Path, backend: str) -> None:
    if shutil.which(backend) is None:
        pytest.skip(f"needs {backend}")
    show_uid = "/bin/sh -c 'while read k v rest; do [ $k = Uid: ] && echo $v; done < /proc/self/status; pwd'"
    cfg = {"config": {"User": "app", "WorkingDir": "/app", "Env": ["PATH=/usr/bin"]}}
    r = run_drivers(tiny_rootfs, ProfileOptions(tests=(show_uid,), backend=backend), config=cfg)
    assert r.drivers[0].output_tail == "1000\n/app\n"


@pytest.mark.parametrize("backend", ["bwrap", "runc"])
def test_a_missing_workdir_is_created_as_runtimes_do(tiny_rootfs: Path, backend: str) -> None:
    # an image whose WorkingDir is not in its layers (e.g. set with `umoci config`/`buildah config`) runs
    # under docker/podman/runc, which create it; the profile run must not crash on start
    if shutil.which(backend) is None:
        pytest.skip(f"needs {backend}")
    cfg = {"config": {"User": "app", "WorkingDir": "/data/work", "Env": ["PATH=/usr/bin"]}}
    r = run_drivers(tiny_rootfs, ProfileOptions(tests=("/bin/sh -c pwd",), backend=backend), config=cfg)
    assert r.error is None and r.drivers[0].output_tail == "/data/work\n"
    assert not (tiny_rootfs / "data").exists()  # made in the run's overlay, never in the image


@pytest.mark.parametrize("backend", ["bwrap", "runc"])
def test_etc_hosts_is_provided_as_runtimes_do(tiny_rootfs: Path, backend: str) -> None:
    # Debian's base image has no /etc/hosts; docker/podman always provide one, so getaddrinfo("localhost")
    # works where the app runs. Without it the original "fails its own tests" and honed refuses to harden.
    if shutil.which(backend) is None:
        pytest.skip(f"needs {backend}")
    r = run_drivers(tiny_rootfs, ProfileOptions(tests=("/bin/cat /etc/hosts",), backend=backend),
                    config={"config": {"Env": ["PATH=/usr/bin"]}})
    assert r.error is None and "127.0.0.1\tlocalhost\n" in r.drivers[0].output_tail
    assert not (tiny_rootfs / "etc/hosts").exists()  # the run's overlay only, never the image
    assert "/etc/hosts" not in r.paths  # runtime-provided, not the image's evidence


def test_the_image_healthcheck_runs_beside_the_app(tiny_rootfs: Path) -> None:
    # docker runs HEALTHCHECK all the time; crediting only its binary (not what it loads) shipped images whose
    # `curl -f …` healthcheck died on a missing libcurl, so the app was restarted as unhealthy forever
    hc = {"Test": ["CMD-SHELL", "cat /etc/hello.txt"]}
    cfg = {"config": {"Cmd": ["/bin/sleep", "30"], "Env": ["PATH=/usr/bin"], "Healthcheck": hc}}
    r = run_drivers(tiny_rootfs, ProfileOptions(), config=cfg)
    hcs = [d for d in r.drivers if d.kind == "healthcheck"]
    assert r.error is None and len(hcs) == 1 and hcs[0].ok and hcs[0].output_tail == "hello\n"
    assert hcs[0].command == "/bin/sh -c 'cat /etc/hello.txt'" and "/etc/hello.txt" in r.paths


@pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc")
def test_a_pid_1_app_without_a_sigterm_handler_is_not_waited_for(tiny_rootfs: Path) -> None:
    # under runc the app is its container's pid 1: the kernel drops SIGTERM without a handler, so the stop
    # grace was 5 s lost per run; an app that handles SIGTERM still gets it and its shutdown is evidence
    opts = ProfileOptions(command=("sleep", SLEEP[4]), tests=("true",), backend="runc", stop_grace=10.0)
    t = time.monotonic()
    r = run_drivers(tiny_rootfs, opts)
    assert time.monotonic() - t < 5 and r.error is None and all(d.ok for d in r.drivers)
    trap = "trap 'cat /etc/hello.txt; exit 0' TERM; while :; do sleep 0.1; done"
    opts = ProfileOptions(command=("/bin/sh", "-c", trap), tests=("true",), backend="runc", stop_grace=10.0)
    r = run_drivers(tiny_rootfs, opts)
    assert r.drivers[-1].kind == "app" and r.drivers[-1].exit_code == 0 and "hello" in r.drivers[-1].output_tail
    _no_leftovers(SLEEP[4])


def test_a_hanging_healthcheck_is_killed_at_its_own_timeout(tiny_rootfs: Path) -> None:
    # docker kills a check after its Timeout (default 30 s), not honed's --timeout (600 s) three times over
    hc = {"Test": ["CMD", "/bin/sleep", SLEEP[3]], "Timeout": 300_000_000}
    cfg = {"config": {"Cmd": ["/bin/sleep", SLEEP[4]], "Env": ["PATH=/usr/bin"], "Healthcheck": hc}}
    r = run_drivers(tiny_rootfs, ProfileOptions(stop_grace=0.5), config=cfg)
    hcs = [d for d in r.drivers if d.kind == "healthcheck"]
    assert len(hcs) == 1 and not hcs[0].ok and "killed after 0.3 s" in hcs[0].output_tail


def test_missing_sandbox_tool_says_what_to_install(
    tiny_rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from honed.errors import EnvironmentMissingError

    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where no runtime is installed
    for backend, package in (("bwrap", "bubblewrap"), ("runc", "runc"), ("podman", "podman")):
        with pytest.raises(EnvironmentMissingError) as e:
            run_drivers(tiny_rootfs, ProfileOptions(tests=("true",), backend=backend))
        assert f"apt-get install {package}" in e.value.render() and e.value.exit_code == 4


@pytest.mark.parametrize("trace", ["fanotify", "strace"])
def test_in_image_tests_run_beside_the_app(tiny_rootfs: Path, trace: str) -> None:
    # the test sees what the app wrote to its private /tmp: same mount namespace, same working dir
    app = ("/bin/sh", "-c", f"echo ready > /tmp/flag; exec sleep {SLEEP[0]}")
    cfg = {"config": {"WorkingDir": "/app"}}
    check_cmd = "/bin/sh -c 'cat /tmp/flag; pwd; cat /etc/nope || cat /etc/hello.txt'"
    r = run_drivers(tiny_rootfs, ProfileOptions(command=app, tests=(check_cmd,)), trace=trace, config=cfg)
    test = r.drivers[0]
    assert (test.kind, test.ok) == ("test", True)
    assert test.output_tail.startswith("ready\n/app\n") and test.output_tail.endswith("hello\n")
    assert Access.OPEN in r.paths["/etc/hello.txt"] and Access.EXEC in r.paths["/usr/bin/cat"]
    if trace == "strace":
        assert Access.MISSING in r.paths["/etc/nope"]
    _no_leftovers(SLEEP[0])


def test_a_port_counts_only_when_the_sandbox_holds_its_listener(free_port: int) -> None:
    import socket
    import subprocess

    from honed.profile.runner import listens_in

    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port))
        s.listen()
        assert listens_in(free_port, os.getpid())  # this process holds it
        other = subprocess.Popen(["sleep", "30"])  # a process (tree) that does not
        try:
            assert not listens_in(free_port, other.pid)
        finally:
            other.kill()
            other.wait()
    assert not listens_in(free_port, os.getpid())
