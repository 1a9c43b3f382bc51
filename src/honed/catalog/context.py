"""What a cataloger's run sees: the read-only rootfs, the one file index, the distro, and where to put
packages and problems. Parsers stay pure functions of bytes; this is the thin part that reads the files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import BinaryIO

from honed.catalog.fsindex import FileIndex
from honed.image.rootfs import RootFS
from honed.model import Location, Package, Problem

log = logging.getLogger(__name__)

MAX_META_BYTES = 16 << 20  # a metadata file larger than this is not one (a 10 MB header line is a problem)


@dataclass(frozen=True, slots=True)
class Distro:
    id: str = ""
    version_id: str = ""
    codename: str = ""
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def purl_distro(self) -> str:
        """`debian-12` as syft and trivy write it in a purl's distro qualifier."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


def parse_os_release(data: bytes) -> Distro:
    vals: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        vals[k.strip()] = v
    return Distro(
        id=vals.get("ID", "").lower(),
        version_id=vals.get("VERSION_ID", ""),
        codename=vals.get("VERSION_CODENAME", ""),
        name=vals.get("NAME", ""),
        pretty_name=vals.get("PRETTY_NAME", ""),
        id_like=tuple(vals.get("ID_LIKE", "").split()),
    )


@dataclass(slots=True)
class Context:
    rootfs: RootFS
    index: FileIndex
    distro: Distro | None = None
    packages: list[Package] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    cataloger: str = ""
    cache: dict = field(default_factory=dict)  # type: ignore[type-arg]  # shared between catalogers (ELF headers)

    def open(self, path: str) -> BinaryIO:
        """Open an image file. A path the index knows as a regular file has no symlink in it (the walk
        follows none), so its host path is opened directly; anything else goes through the rootfs."""
        e = self.index.entries.get(path)
        if e is not None and e[0] == "f":
            physical = getattr(self.rootfs, "open_physical", None)  # StreamRootFS keeps some in memory
            if physical is not None:
                return physical(path)  # type: ignore[no-any-return]
            return open(self.rootfs.host_path(path), "rb")  # noqa: SIM115 - the caller closes it
        return self.rootfs.open(path)

    def problem(self, path: str, message: str) -> None:
        log.warning("%s: %s", path, message)
        self.problems.append(Problem(path=path, message=message, stage=f"catalog/{self.cataloger}"))

    def location(self, path: str) -> Location:
        return Location(path=path, layer=self.rootfs.layer_of(path))

    def read(self, path: str, limit: int = MAX_META_BYTES) -> bytes | None:
        """The bytes of an image file (None, and a problem, if it cannot be read); at most `limit`+1 bytes."""
        try:
            with self.open(path) as f:
                return f.read(limit + 1)
        except OSError as e:
            self.problem(path, f"cannot read: {e.strerror or e}")
            return None

    def read_quiet(self, path: str, limit: int = MAX_META_BYTES) -> bytes | None:
        """Like read, for optional files: a missing one is not a problem."""
        try:
            with self.open(path) as f:
                return f.read(limit + 1)
        except OSError:
            return None
