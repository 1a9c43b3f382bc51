"""The one read-only, layer-aware view of an image's final filesystem. Nothing else reads image content.

The concrete view is a safely extracted directory (see `honed.image.extract`) plus a map of path -> the
layer (diff_id) that last wrote it. Every path is an absolute, image-internal path ("/usr/bin/python3").
Symlinks are resolved *inside* the root: an absolute target is re-rooted and `..` stops at `/`, exactly as
the kernel does under chroot, so nothing here can read a host file.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat as st
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str  # absolute image path
    kind: str  # "file", "dir", "symlink", "other"
    size: int
    mode: int
    link_target: str | None = None
    layer: str | None = None
    inode: int = 0  # host inode of the extracted file: equal inodes are hardlinks
    nlink: int = 1


class RootFS(Protocol):
    def lstat(self, path: str) -> FileInfo | None: ...
    def stat(self, path: str) -> FileInfo | None: ...
    def exists(self, path: str) -> bool: ...
    def readlink(self, path: str) -> str | None: ...
    def resolve(self, path: str) -> str: ...
    def open(self, path: str) -> BinaryIO: ...
    def read_bytes(self, path: str, limit: int | None = None) -> bytes: ...
    def listdir(self, path: str) -> list[str]: ...
    def walk(self, top: str = "/") -> Iterator[FileInfo]: ...
    def glob(self, pattern: str) -> Iterator[str]: ...
    def layer_of(self, path: str) -> str | None: ...
    def host_path(self, path: str) -> Path: ...


def resolve_links(
    path: str, readlink: Callable[[str], str | None], *, on_link: Callable[[str], None] | None = None
) -> str:
    """Resolve every symlink in the absolute image path `path` as the kernel does under chroot: an absolute
    target restarts at the image's `/`, `..` stops there, after MAX_SYMLINK_HOPS links the path is left
    unresolved (a loop; lookups then fail cleanly). Missing trailing parts are kept as they are.

    `readlink(p)` gives the raw target of the symlink at the (resolved) path `p`, None when `p` is no
    symlink — so this serves an extracted directory, an in-memory file index and a map of directory links
    alike. `on_link(p)` is told of each link passed through."""
    parts = [p for p in path.split("/") if p and p != "."]
    parts.reverse()  # a stack: pop() takes the next component
    out: list[str] = []
    hops = 0
    while parts:
        name = parts.pop()
        if name == "..":
            if out:
                out.pop()
            continue
        cand = "/" + "/".join(out) + "/" + name if out else "/" + name
        target = readlink(cand)
        if target is not None:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return cand
            if on_link is not None:
                on_link(cand)
            if target.startswith("/"):
                out = []
            parts.extend(reversed([p for p in target.split("/") if p and p != "."]))
            continue
        out.append(name)
    return "/" + "/".join(out)


def norm(path: str) -> str:
    """Normalise an image path to absolute form without resolving symlinks."""
    p = posixpath.normpath("/" + path.lstrip("/"))
    return "/" if p == "//" else p


class RootFSBase:
    """What every RootFS derives from its own lstat/stat/open (the extracted view and the catalog's in-memory
    stream view share it)."""

    def lstat(self, path: str) -> FileInfo | None:
        raise NotImplementedError

    def stat(self, path: str) -> FileInfo | None:
        raise NotImplementedError

    def open(self, path: str) -> BinaryIO:
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def readlink(self, path: str) -> str | None:
        info = self.lstat(path)
        return info.link_target if info else None

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        with self.open(path) as f:
            return f.read() if limit is None else f.read(limit)


class DirRootFS(RootFSBase):
    """A RootFS over an extracted directory. `layers` maps image paths to the diff_id that wrote them."""

    def __init__(self, root: Path | str, layers: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        self._root_s = str(self.root)
        self._layers = layers or {}

    # -- path handling ------------------------------------------------------------------------------
    def host_path(self, path: str) -> Path:
        """The host path of an image path, *without* following symlinks in it (use resolve first)."""
        return Path(self._root_s + norm(path)) if norm(path) != "/" else self.root

    def resolve(self, path: str) -> str:
        """Resolve every symlink in `path` inside the root. Missing trailing parts are kept as they are."""
        return resolve_links(norm(path), self._host_readlink)

    def _host_readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._root_s + path)
        except OSError:  # not a symlink, or missing
            return None

    # -- queries ------------------------------------------------------------------------------------
    def _info(self, path: str, s: os.stat_result) -> FileInfo:
        kind = (
            "symlink"
            if st.S_ISLNK(s.st_mode)
            else "dir"
            if st.S_ISDIR(s.st_mode)
            else "file"
            if st.S_ISREG(s.st_mode)
            else "other"
        )
        target = os.readlink(self._root_s + path) if kind == "symlink" else None
        return FileInfo(
            path=path,
            kind=kind,
            size=s.st_size if kind == "file" else 0,
            mode=st.S_IMODE(s.st_mode),
            link_target=target,
            layer=self._layers.get(path),
            inode=s.st_ino,
            nlink=s.st_nlink,
        )

    def lstat(self, path: str) -> FileInfo | None:
        path = norm(path)
        parent = self.resolve(posixpath.dirname(path))
        full = posixpath.join(parent, posixpath.basename(path)) if path != "/" else "/"
        try:
            return self._info(full, os.lstat(self._root_s + full))
        except OSError:
            return None

    def stat(self, path: str) -> FileInfo | None:
        real = self.resolve(path)
        try:
            return self._info(real, os.lstat(self._root_s + real))
        except OSError:
            return None

    def open(self, path: str) -> BinaryIO:
        real = self.resolve(path)
        hp = self._root_s + real
        if os.path.islink(hp):
            raise FileNotFoundError(path)  # an unresolvable (looping) link
        return open(hp, "rb")  # noqa: SIM115 - the caller owns it

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._root_s + self.resolve(path)))
        except OSError:
            return []

    def walk(self, top: str = "/") -> Iterator[FileInfo]:
        """Every entry under `top` (symlinks not followed), in sorted order."""
        top = self.resolve(top)
        stack = [top]
        while stack:
            d = stack.pop()
            try:
                names = sorted(os.listdir(self._root_s + d), reverse=True)
            except OSError:
                continue
            for name in names:
                p = posixpath.join(d, name)
                try:
                    s = os.lstat(self._root_s + p)
                except OSError:
                    continue
                info = self._info(p, s)
                yield info
                if info.kind == "dir":
                    stack.append(p)

    def glob(self, pattern: str) -> Iterator[str]:
        """Paths matching a glob where `**` spans directories (fnmatch semantics otherwise)."""
        pattern = norm(pattern)
        # Walk only below the longest literal prefix of the pattern.
        prefix_parts = []
        for part in pattern.split("/")[1:]:
            if any(c in part for c in "*?["):
                break
            prefix_parts.append(part)
        base = "/" + "/".join(prefix_parts)
        if base == pattern:
            if self.lstat(base):
                yield base
            return
        rx = glob_regex(pattern)
        for info in self.walk(base):
            if rx.match(info.path):
                yield info.path

    def layer_of(self, path: str) -> str | None:
        return self._layers.get(norm(path))


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`**/` spans any number of directories, `*` and `?` stay inside one; brackets are literal."""

    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            c = pattern[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            else:
                out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


__all__ = ["DirRootFS", "FileInfo", "RootFS", "RootFSBase", "glob_regex", "norm", "resolve_links"]
