"""What to run in a profiled (or verified) run, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from honed.errors import UserError

BACKENDS = ("bwrap", "runc", "podman")
TRACERS = ("fanotify", "strace", "both", "none")


@dataclass(frozen=True, slots=True)
class HttpProbe:
    port: int
    path: str = "/"

    def __str__(self) -> str:
        return f"{self.port}{self.path}"


def parse_probe(text: str) -> HttpProbe:
    """`8080`, `8080/health` or `8080/api/items?x=1` → HttpProbe."""
    port_s, sep, rest = text.strip().partition("/")
    try:
        port = int(port_s)
    except ValueError:
        raise UserError(f"invalid --http-probe {text!r}: expected PORT[/PATH], e.g. 8080/health") from None
    if not 0 < port < 65536:
        raise UserError(f"invalid --http-probe {text!r}: port out of range")
    return HttpProbe(port, "/" + rest if sep else "/")


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """Drivers and limits of one run. Everything has a default, so `ProfileOptions(tests=("pytest /app",))`
    is a complete value.

    tests        commands run inside the sandbox, on the same overlay, while the app runs (split with shlex and
                 executed directly: no shell, so the shell's files do not count as the app's evidence)
    http_probes  GET / and the given path on each port, once the port answers
    openapi      path of an OpenAPI document the app serves (e.g. /openapi.json): GET every parameter-free path
    host_tests   shell commands run on the host with HONED_TARGET_URL=http://127.0.0.1:PORT
    duration     seconds to let the app run on its own (a timed run of the entrypoint)
    timeout      a test command (in-image or host) still running after this many seconds is killed
    start_timeout bounded wait for the app's port to answer
    port         the app's port when no probe names it (default: the first of the image's ExposedPorts)
    command      overrides the image's entrypoint + cmd (its ExposedPorts are then not waited for)
    """

    tests: tuple[str, ...] = ()
    http_probes: tuple[HttpProbe, ...] = ()
    host_tests: tuple[str, ...] = ()
    openapi: str | None = None
    duration: float | None = None
    timeout: float = 600.0
    start_timeout: float = 30.0
    stop_grace: float = 5.0
    allow_failing_tests: bool = False
    backend: str = "bwrap"
    trace: str = "fanotify"
    port: int | None = None
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.trace not in TRACERS:
            raise UserError(f"unknown tracer {self.trace!r}; choose one of {', '.join(TRACERS)}")
        if self.timeout <= 0 or self.start_timeout <= 0:
            raise UserError("timeouts must be positive")
        if self.duration is not None and self.duration < 0:
            raise UserError("--duration must not be negative")

    @property
    def has_app_drivers(self) -> bool:
        """Drivers that need the app itself running (as opposed to in-image tests alone)."""
        return bool(self.http_probes or self.host_tests or self.openapi or self.duration is not None)
