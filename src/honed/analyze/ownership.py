"""File → package ownership as the planner needs it, over the catalog's ownership index.

The catalog's `OwnershipIndex` gives the canonical form of every path (parent directory resolved through the
image's directory symlinks, last component kept: dpkg's pre-merged-/usr `/bin/bash` and the tracer's
`/usr/bin/bash` meet, a symlink a package ships stays itself) and each package's canonical file list with dpkg
diversions applied. The planner adds what only it needs: the image's view of each path (one walk: file,
symlink, dir), which entries are *directories* (never evidence, never removed while non-empty; a listed path
with listed children is one even where the image has a symlink, `/bin`), a package's directory entries and
conffiles in its list, and a Python dist's / npm package's metadata directory with everything under it.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from honed.catalog import dpkg as catalog_dpkg
from honed.catalog.ownership import OwnershipIndex
from honed.image.rootfs import FileInfo, RootFS, norm, resolve_links
from honed.model import DpkgMeta, NpmMeta, Package, PythonMeta

DIVERSIONS = catalog_dpkg.DIVERSIONS


@dataclass(frozen=True, slots=True)
class Diversion:
    original: str  # the path packages other than `by` name in their lists
    diverted_to: str  # where their file really is
    by: str  # the diverting package's name (":" for a local diversion)


def parse_diversions(data: bytes) -> tuple[Diversion, ...]:
    """dpkg's diversions file (read by the catalog's parser) as Diversion records."""
    return tuple(Diversion(norm(f), norm(t), by) for f, t, by in catalog_dpkg.parse_diversions(data))


class Canon:
    """Canonical image paths (the catalog index's canonical form) plus the image's view of them."""

    def __init__(self, canonical: Callable[[str], str], entries: Mapping[str, FileInfo]) -> None:
        self._canonical = canonical
        self.entries = entries  # a walk of the whole image: lstat without touching the filesystem again

    def __call__(self, path: str) -> str:
        return self._canonical(path)

    def lstat(self, path: str) -> FileInfo | None:
        """lstat of a canonical path."""
        return self.entries.get(path)

    def link_target(self, path: str) -> str | None:
        """The canonical path a symlink (given canonically) points at, one hop; None if not a symlink."""
        info = self.lstat(path)
        if info is None or info.kind != "symlink" or info.link_target is None:
            return None
        t = info.link_target
        return self(t if t.startswith("/") else posixpath.join(posixpath.dirname(path), t))


def dir_links(entries: Mapping[str, FileInfo]) -> dict[str, str]:
    """The image's symlinks that resolve to a directory → that directory (what the catalog's index uses)."""

    def readlink(p: str) -> str | None:
        e = entries.get(p)
        return e.link_target if e is not None and e.kind == "symlink" else None

    out = {}
    for p, info in entries.items():
        if info.kind == "symlink":
            r = resolve_links(p, readlink)
            e = entries.get(r)
            if e is not None and e.kind == "dir":
                out[p] = r
    return out


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
    """Who owns each canonical path, which entries are directories, and each package's canonical files.

    `index`: the catalog's ownership index of these packages (built here from the image when not given)."""

    def __init__(
        self,
        packages: Sequence[Package],
        rootfs: RootFS,
        *,
        diversions: Iterable[Diversion] | None = None,
        index: OwnershipIndex | None = None,
    ) -> None:
        self.fs = rootfs
        # One walk of the image (sorted, symlinks not followed: every path in it is canonical).
        self.entries: dict[str, FileInfo] = {i.path: i for i in rootfs.walk("/")}
        self._sorted: list[str] | None = None
        self.packages: dict[str, Package] = {p.id: p for p in packages}
        if index is None:
            if diversions is None:
                try:
                    diversions = parse_diversions(rootfs.read_bytes(DIVERSIONS))
                except OSError:
                    diversions = ()
            triples = [(d.original, d.diverted_to, d.by) for d in diversions]
            index = OwnershipIndex((), dir_links(self.entries), triples)
        self.index = index
        self.canon = Canon(index.canonical, self.entries)
        self.diversions: tuple[Diversion, ...] = (
            tuple(diversions)
            if diversions is not None
            else tuple(Diversion(norm(f), norm(t), by) for f, t, by in index.diversions)
        )
        extra_by_pkg: dict[str, list[str]] = {p.id: list(self._extra(p)) for p in packages}
        # A listed path with listed children is a directory entry even where the image has a symlink (/bin).
        parents_listed = {posixpath.dirname(norm(f)) for p in packages for f in p.files}
        parents_listed.update(posixpath.dirname(norm(f)) for fs in extra_by_pkg.values() for f in fs)
        for p in packages:  # the catalog already split directory entries out of dpkg lists
            parents_listed.update(norm(d) for d in getattr(p.meta, "dirs", ()) or ())
        self.by_path: dict[str, list[str]] = {}
        self.dirs: set[str] = set()
        self.files_of: dict[str, tuple[str, ...]] = {}
        for pid, pkg in self.packages.items():
            out: list[str] = []
            for raw in (*pkg.files, *extra_by_pkg[pid]):
                c = index.claimed(pkg, raw)
                if norm(raw) in parents_listed:
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

    def _extra(self, pkg: Package) -> Iterator[str]:
        """What the planner counts in a package beyond its file list: a dpkg package's directory entries and
        conffiles; a Python dist's / npm package's metadata dir and every file under it (RECORD may be
        incomplete; npm metadata lists none). Nested node_modules belong to the packages inside them."""
        m = pkg.meta
        if isinstance(m, DpkgMeta):
            yield from getattr(m, "dirs", ())
            yield from m.conffiles
        elif isinstance(m, PythonMeta | NpmMeta):
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
