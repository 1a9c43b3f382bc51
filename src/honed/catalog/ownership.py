"""The file → package ownership index.

Package databases name files by the path the package was built with (`/bin/bash`), a tracer reports the path
the kernel resolved (`/usr/bin/bash`). Both sides go through one canonical form: every *directory* component
is resolved through the image's directory symlinks, the last component is kept as it is (a symlink is a file
a package can own). Directory entries of package lists are kept apart from files: `/bin` listed by a package
as a directory while the image has it as a symlink is not credited to that package (DESIGN §5b).

The index is built from the packages (their file lists), the image's directory symlinks and the dpkg
diversions only, so a Catalog read back from its native JSON has the very same index.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from honed.image.rootfs import resolve_links
from honed.model import BinaryMeta, DpkgMeta, GoModMeta, JarMeta, NpmMeta, Package


class Canonicalizer:
    """Resolves directory components through a map of directory symlinks (link path → resolved target)."""

    def __init__(self, dir_links: Mapping[str, str]) -> None:
        self.dir_links = dict(dir_links)
        self._cache: dict[str, str] = {"/": "/", "": "/"}

    def directory(self, path: str) -> str:
        """Resolve every component of a directory path (the whole path is a directory)."""
        hit = self._cache.get(path)
        if hit is not None:
            return hit
        res = resolve_links(path, self.dir_links.get)
        self._cache[path] = res
        return res

    def path(self, path: str) -> str:
        """Canonical form of a file path: directory part resolved, last component kept."""
        if not path.startswith("/"):
            path = "/" + path
        if "//" in path or "/." in path or path.endswith("/"):  # the common case needs no normpath
            path = posixpath.normpath(path)
            if path.startswith("//"):
                path = path[1:]
        if path == "/":
            return "/"
        head, tail = path.rsplit("/", 1)
        d = self.directory(head or "/")
        return (d.rstrip("/") + "/" + tail) if tail else d


def claims(pkg: Package) -> tuple[str, ...]:
    """The paths a package claims: its file list, or the one file it was found in (binaries, jars)."""
    m = pkg.meta
    if isinstance(m, GoModMeta):
        return (m.binary_path,)
    if isinstance(m, BinaryMeta):
        return (m.path,)
    if isinstance(m, JarMeta):
        return (m.archive_path.split("!/", 1)[0],)
    return pkg.files


class OwnershipIndex:
    """path → owning package ids, for every file and symlink a package claims; queries canonicalise."""

    def __init__(
        self,
        packages: Iterable[Package],
        dir_links: Mapping[str, str] | None = None,
        diversions: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        self.canon = Canonicalizer(dir_links or {})
        self.diversions = tuple(diversions)  # (from, to, by package name)
        self._divert = {self.canon.path(f): (self.canon.path(t), by) for f, t, by in self.diversions}
        self._owners: dict[str, tuple[str, ...]] = {}
        self._dirs: dict[str, tuple[str, ...]] = {}
        self._files_of: dict[str, tuple[str, ...]] = {}
        self._dirs_of: dict[str, tuple[str, ...]] = {}
        self.add(packages)

    def add(self, packages: Iterable[Package]) -> None:
        """Index more packages (the unowned-binary cataloger adds its own after the others)."""
        owners, dirs, claimed = self._owners, self._dirs, self.claimed
        cdir = self.canon.directory
        for pkg in packages:
            pid = pkg.id
            if pid in self._files_of:
                continue
            meta = pkg.meta
            mine: list[str] = []
            for f in claims(pkg):
                c = claimed(pkg, f)
                got = owners.get(c)
                if got is None:
                    owners[c] = (pid,)
                elif pid not in got:
                    owners[c] = (*got, pid)
                mine.append(c)
            self._files_of[pid] = tuple(mine)
            pdirs: tuple[str, ...] = ()
            if isinstance(meta, DpkgMeta):
                pdirs = tuple(cdir(d) for d in meta.dirs)
            elif isinstance(meta, NpmMeta):
                pdirs = (cdir(meta.package_dir),)
            for d in pdirs:
                got = dirs.get(d)
                if got is None:
                    dirs[d] = (pid,)
                elif pid not in got:
                    dirs[d] = (*got, pid)
            self._dirs_of[pid] = pdirs

    # -- queries --------------------------------------------------------------------------------------
    def owners(self, path: str) -> tuple[str, ...]:
        """Package ids owning the file or symlink at `path` (any spelling through directory symlinks)."""
        got = self._owners.get(path)
        if got is not None:
            return got
        return self._owners.get(self.canon.path(path), ())

    def dir_owners(self, path: str) -> tuple[str, ...]:
        """Package ids whose lists name `path` as a directory (directories are shared; keep while one stays)."""
        return self._dirs.get(self.canon.directory(path), ())

    def is_package_dir(self, path: str) -> bool:
        return self.canon.directory(path) in self._dirs

    def files_of(self, package_id: str) -> tuple[str, ...]:
        """Canonical paths of the files and symlinks a package claims (directories excluded)."""
        return self._files_of.get(package_id, ())

    def dirs_of(self, package_id: str) -> tuple[str, ...]:
        return self._dirs_of.get(package_id, ())

    def claimed(self, pkg: Package, path: str) -> str:
        """The canonical path where `pkg`'s copy of the listed `path` lives: another package's dpkg diversion
        moves it to the diversion target (`/bin/sh` stays dash's, bash's copy is `/bin/sh.distrib`)."""
        c = self.canon.path(path)
        if self._divert and c in self._divert:
            to, by = self._divert[c]
            if isinstance(pkg.meta, DpkgMeta) and pkg.name != by:
                return to
        return c

    def canonical(self, path: str) -> str:
        return self.canon.path(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and bool(self.owners(path))

    def __len__(self) -> int:
        return len(self._owners)

    def paths(self) -> Iterable[str]:
        """Every owned canonical path."""
        return self._owners.keys()

    @property
    def package_dirs(self) -> frozenset[str]:
        return frozenset(self._dirs)
