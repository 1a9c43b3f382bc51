"""Atomic output: write to a temp file beside the target, fsync, rename. A reader never sees half a file,
and an interrupted run leaves only a dot-prefixed temp file that the next run ignores."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from honed.errors import OutputError


def atomic_write(path: Path | str, data: bytes) -> None:
    try:
        _atomic_write(Path(path), data)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e


def _atomic_write(path: Path, data: bytes) -> None:
    if _special(path):
        # /dev/null, /dev/stdout, a FIFO: renaming over it would replace the device node (for every process
        # on the machine, in the case of /dev/null) with a regular file; such a target is written in place
        with open(path, "wb") as f:
            f.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a report should get the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_dir(final: Path | str) -> Path:
    """A fresh temp directory beside `final`; pass it to `commit_dir` when it is complete."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as e:
        raise OutputError(f"cannot write {final}: {e.strerror or e}") from e
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
    return tmp


def commit_dir(tmp: Path, final: Path | str, *, replace: bool = False) -> None:
    """Move a completed temp directory into place; with `replace`, the old one goes only after."""
    final = Path(final)
    if final.exists():
        if not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(str(final))
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
