"""The typed error tree. Each error renders as one readable line (plus an optional hint).

The CLI maps the classes to exit codes (DESIGN §3); nothing below the CLI calls sys.exit.
"""

from __future__ import annotations


class HonedError(Exception):
    """Base of every error honed raises on purpose. `exit_code` is what the CLI returns for it."""

    exit_code = 5
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def render(self) -> str:
        msg = str(self)
        if self.hint:
            msg += f" (hint: {self.hint})"
        return msg


class UserError(HonedError):
    """Bad input or usage: exit 3."""

    exit_code = 3


class OutputError(UserError, OSError):
    """An output path that cannot be written (missing or read-only parent, a directory in a file's place):
    exit 3 with one line. Still an OSError, so code that handles failed writes keeps working."""


class EnvironmentMissingError(HonedError):
    """Something honed needs from the machine is not there: exit 4. The message says what to install."""

    exit_code = 4


class VerificationFailedError(HonedError):
    """The hardened image breaks the tests: exit 2."""

    exit_code = 2


# ------------------------------------------------------------------------------------------- image input


class ImageError(UserError):
    """A broken or hostile image."""


class InvalidReferenceError(UserError):
    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(
            f"invalid image reference {ref!r}: {reason}",
            hint="use oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, docker://REG/REPO:TAG, "
            "docker-daemon:NAME:TAG or containers-storage:NAME:TAG",
        )
        self.ref = ref


class DigestMismatchError(ImageError):
    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch in {what}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class MissingBlobError(ImageError):
    def __init__(self, digest: str, where: str) -> None:
        super().__init__(f"blob {digest} is missing from {where}")
        self.digest = digest


class PathEscapeError(ImageError):
    def __init__(self, path: str, layer: str, why: str = "points outside the root filesystem") -> None:
        super().__init__(f"layer {layer}: entry {path!r} {why}")
        self.path = path
        self.layer = layer


class CorruptLayerError(ImageError):
    def __init__(self, layer: str, reason: str, path: str | None = None) -> None:
        at = f" at {path!r}" if path else ""
        super().__init__(f"layer {layer} is corrupt{at}: {reason}")
        self.layer = layer
        self.path = path


class ManifestError(ImageError):
    pass


class DestinationExistsError(UserError):
    def __init__(self, dest: str) -> None:
        super().__init__(f"destination {dest} already exists", hint="pass --force to replace it")


# ------------------------------------------------------------------------------------------------ others


class DatabaseError(UserError):
    """A missing, corrupt or foreign advisory database."""


class ProfileError(UserError):
    """The profiled app could not be run as asked (crash on start, port never opened, tests failed)."""


class ToolError(HonedError):
    """An external tool (skopeo, runc…) failed in a way that is not the user's input."""
