"""File → package ownership as the planner needs it: every path canonical, directories told apart.

The catalog has an ownership index too; the planner builds its own from the packages' file lists because it
needs more than "who owns this path": whether an entry is a *directory* entry (never evidence, never removed
while non-empty), the image's view of each path (file, symlink, dir), and dpkg diversions.

Canonical path = the parent directory resolved through the image's symlinks + the unresolved last component.
That maps dpkg's pre-merged-/usr names (`/bin/bash`, `/lib64/ld-linux-x86-64.so.2`) and the tracer's resolved
names (`/usr/bin/bash`) onto one key, while a symlink that *is* a package file (`/usr/bin/python3`) stays itself.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from honed.image.rootfs import FileInfo, RootFS, norm
from honed.model import DpkgMeta, Ecosystem, NpmMeta, Package, PythonMeta

DIVERSIONS = "/var/lib/dpkg/diversions"


@dataclass(frozen=True, slots=True)
class Diversion:
    original: str  # the path packages other than `by` name in their lists
    diverted_to: str  # where their file really is
    by: str  # the diverting package's name (":" for a local diversion)


def parse_diversions(data: bytes) -> tuple[Diversion, ...]:
    """dpkg's diversions file: groups of three lines (original, diverted-to, package)."""
    lines = data.decode("utf-8", "replace").splitlines()
    out = []
    for i in range(0, len(lines) - 2, 3):
        out.append(Diversion(norm(lines[i]), norm(lines[i + 1]), lines[i + 2].strip()))
    return tuple(out)


class Canon:
    """Canonicalises image paths through the image's directory symlinks (cached per parent directory)."""

    def __init__(self, rootfs: RootFS, entries: Mapping[str, FileInfo] | None = None) -> None:
        self.fs = rootfs
        self._parents: dict[str, str] = {"/": "/"}
        self._lstat: dict[str, FileInfo | None] = {}
        self.entries = entries  # a walk of the whole image: lstat without touching the filesystem again

    def __call__(self, path: str) -> str:
        p = norm(path)
        if p == "/":
            return p
        parent, name = posixpath.split(p)
        rp = self._parents.get(parent)
        if rp is None:
            rp = self._parents[parent] = self.fs.resolve(parent)
        return posixpath.join(rp, name)

    def lstat(self, path: str) -> FileInfo | None:
        """lstat of a canonical path (cached)."""
        if self.entries is not None:
            return self.entries.get(path)
        if path not in self._lstat:
            self._lstat[path] = self.fs.lstat(path)
        return self._lstat[path]

    def link_target(self, path: str) -> str | None:
        """The canonical path a symlink (given canonically) points at, one hop; None if not a symlink."""
        info = self.lstat(path)
        if info is None or info.kind != "symlink" or info.link_target is None:
            return None
        t = info.link_target
        return self(t if t.startswith("/") else posixpath.join(posixpath.dirname(path), t))


def anchor(pkg: Package) -> str | None:
    """The one path that stands for a non-dpkg package (its metadata dir, package dir or embedding file)."""
    m = pkg.meta
    if isinstance(m, PythonMeta):
        return m.dist_dir
    if isinstance(m, NpmMeta):
        return m.package_dir
    for attr in ("binary_path", "archive_path", "path"):
        v = getattr(m, attr, None)
        if isinstance(v, str) and v:
            return v.split("!", 1)[0]
    return pkg.locations[0].path if pkg.locations else None


class Ownership:
    """Who owns each canonical path, which entries are directories, and each package's canonical files."""

    def __init__(
        self,
        packages: Sequence[Package],
        rootfs: RootFS,
        *,
        diversions: Iterable[Diversion] | None = None,
    ) -> None:
        self.fs = rootfs
        # One walk of the image (sorted, symlinks not followed: every path in it is canonical).
        self.entries: dict[str, FileInfo] = {i.path: i for i in rootfs.walk("/")}
        self.canon = Canon(rootfs, self.entries)
        self._sorted: list[str] | None = None
        self.packages: dict[str, Package] = {p.id: p for p in packages}
        if diversions is None:
            try:
                diversions = parse_diversions(rootfs.read_bytes(DIVERSIONS))
            except OSError:
                diversions = ()
        self.diversions = tuple(diversions)
        div = {d.original: d for d in self.diversions}
        raw_by_pkg: dict[str, list[str]] = {}
        for p in packages:
            raw_by_pkg[p.id] = list(self._raw_files(p))
        # A listed path with listed children is a directory entry even where the image has a symlink (/bin).
        all_raw = {norm(f) for fs in raw_by_pkg.values() for f in fs}
        parents_listed = {posixpath.dirname(f) for f in all_raw}
        for p in packages:  # the catalog already split directory entries out of dpkg lists
            parents_listed.update(norm(d) for d in getattr(p.meta, "dirs", ()) or ())
        self.by_path: dict[str, list[str]] = {}
        self.dirs: set[str] = set()
        self.files_of: dict[str, tuple[str, ...]] = {}
        for pid, raws in raw_by_pkg.items():
            pkg = self.packages[pid]
            name = pkg.name
            out: list[str] = []
            for raw in raws:
                r = norm(raw)
                d = div.get(r)
                if d is not None and d.by != name and pkg.ecosystem == Ecosystem.DEBIAN:
                    r = d.diverted_to  # this package's copy lives where the diversion put it
                c = self.canon(r)
                if r in parents_listed:
                    self.dirs.add(c)
                out.append(c)
                owners = self.by_path.setdefault(c, [])
                if pid not in owners:
                    owners.append(pid)
            self.files_of[pid] = tuple(dict.fromkeys(out))
        for c in list(self.by_path):
            if c not in self.dirs:
                info = self.canon.lstat(c)
                if info is not None and info.kind == "dir":
                    self.dirs.add(c)

    def _raw_files(self, pkg: Package) -> Iterator[str]:
        m = pkg.meta
        yield from pkg.files
        if isinstance(m, DpkgMeta):
            yield from getattr(m, "dirs", ())
            yield from m.conffiles
        elif isinstance(m, PythonMeta | NpmMeta):
            # the metadata dir / package dir itself, and every file under it (RECORD may be incomplete;
            # npm metadata lists none). Nested node_modules belong to the packages inside them.
            top = m.dist_dir if isinstance(m, PythonMeta) else m.package_dir
            yield top
            real = self.canon(top.rstrip("/"))
            nested = real + "/node_modules"
            for path in self._under(real):
                if isinstance(m, NpmMeta) and (path == nested or path.startswith(nested + "/")):
                    continue
                yield path

    def _under(self, top: str) -> list[str]:
        """Every image path below `top` (canonical), from the sorted walk."""
        if self._sorted is None:
            self._sorted = sorted(self.entries)
        lo = bisect.bisect_left(self._sorted, top + "/")
        hi = bisect.bisect_left(self._sorted, top + "0")  # "0" sorts right after "/"
        return self._sorted[lo:hi]

    # -- queries ------------------------------------------------------------------------------------
    def owners(self, path: str, *, canonical: bool = False) -> tuple[str, ...]:
        c = path if canonical else self.canon(path)
        return tuple(self.by_path.get(c, ()))

    def is_dir(self, canonical_path: str) -> bool:
        return canonical_path in self.dirs

    def package_files(self, pid: str) -> tuple[str, ...]:
        return self.files_of.get(pid, ())

    def by_name(self) -> Mapping[str, list[str]]:
        out: dict[str, list[str]] = {}
        for pid, p in self.packages.items():
            out.setdefault(p.name, []).append(pid)
        return out
