"""Cataloguing an image without extracting it: one streaming pass over the layer tars.

A cold `honed sbom` spends most of its time writing the whole filesystem to disk (tens of thousands of
files) only to read a few hundred of them. Here the layers are read once, in order, through the image's
verified `layer_tar` streams; tar headers build the file index (kinds, modes, sizes, symlinks, whiteouts,
opaque directories, the layer of every path) in memory, and only the contents a cataloger can need are kept:
package-database and metadata files, archives, and files that start with the ELF magic. Those go to a private
temporary directory that holds nothing but real directories and regular files — no symlink is ever created
there, so nothing written can point outside it; symlinks live in the in-memory index and are resolved there,
confined to the root like DirRootFS does.

`StreamRootFS` satisfies the RootFS protocol for the catalogers (a path whose content was not kept reads as
missing). When the image's rootfs is already extracted in the cache, `catalog_image` uses that instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from honed.catalog.context import MAX_META_BYTES
from honed.catalog.elf import MAGIC as ELF_MAGIC
from honed.catalog.elf import is_candidate
from honed.catalog.fsindex import DIR, FILE, LINK, OTHER, FileIndex
from honed.errors import CorruptLayerError, PathEscapeError
from honed.image.extract import max_unpacked
from honed.image.rootfs import FileInfo, RootFSBase, norm

WH = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1 << 20
_ARCHIVES = (".jar", ".war", ".ear", ".jpi", ".hpi")
_META_DIRS = ("/var/lib/dpkg/", "/lib/apk/db/")
_RPM_DIRS = ("/var/lib/rpm/", "/usr/lib/sysimage/rpm/")  # SQLite needs a real file: kept on disk
_OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")


def wanted_metadata(path: str, base: str) -> bool:
    """Small files some cataloger reads (kept up to MAX_META_BYTES + 1 bytes)."""
    if path.startswith(_META_DIRS) or path in _OS_RELEASE or base == "package.json":
        return True
    if base == "copyright" and path.startswith("/usr/share/doc/"):
        return True
    parent = path[: -len(base) - 1]
    return parent.endswith((".dist-info", ".egg-info")) or base.endswith(".egg-info")


class StreamRootFS(RootFSBase):
    """RootFS over an in-memory FileIndex plus the kept contents (see the module docstring)."""

    def __init__(self, index: FileIndex, content: Path, layers: dict[str, str], memory: dict[str, bytes]) -> None:
        self.file_index = index  # FileIndex.build uses it instead of walking
        self.root = content
        self._root_s = str(content)
        self._layers = layers
        self._memory = memory  # small metadata files, kept in memory (no file creation/removal cost)

    def open_physical(self, path: str) -> BinaryIO:
        """Open a path the index has as a regular file (no symlink in it)."""
        data = self._memory.get(path)
        if data is not None:
            return io.BytesIO(data)
        return open(self._root_s + path, "rb")  # noqa: SIM115 - FileNotFoundError if the content was not kept

    def host_path(self, path: str) -> Path:
        n = norm(path)
        return Path(self._root_s + n) if n != "/" else self.root

    def resolve(self, path: str) -> str:
        return self.file_index.resolve(norm(path))

    def _info(self, path: str) -> FileInfo | None:
        e = self.file_index.entries.get(path)
        if e is None:
            return None if path != "/" else FileInfo("/", "dir", 0, 0o755)
        kind = {FILE: "file", DIR: "dir", LINK: "symlink"}.get(e[0], "other")
        return FileInfo(path, kind, e[2], e[1], self.file_index.links.get(path), self._layers.get(path))

    def lstat(self, path: str) -> FileInfo | None:
        n = norm(path)
        head, tail = posixpath.split(n)
        return self._info(posixpath.join(self.resolve(head), tail) if tail else "/")

    def stat(self, path: str) -> FileInfo | None:
        return self._info(self.resolve(path))

    def open(self, path: str) -> BinaryIO:
        real = self.resolve(path)
        if self.file_index.kind(real) != FILE:
            raise FileNotFoundError(path)
        return self.open_physical(real)

    def listdir(self, path: str) -> list[str]:
        return sorted(posixpath.basename(p) for p in self.file_index.children.get(self.resolve(path), ()))

    def walk(self, top: str = "/") -> Iterator[FileInfo]:
        for p in sorted(self.file_index.under(self.resolve(top))):
            info = self._info(p)
            if info is not None:
                yield info

    def glob(self, pattern: str) -> Iterator[str]:
        from honed.image.rootfs import glob_regex

        rx = glob_regex(norm(pattern))
        return iter(sorted(p for p in self.file_index.entries if rx.match(p)))

    def layer_of(self, path: str) -> str | None:
        return self._layers.get(norm(path))


class _Builder:
    def __init__(self, content: Path) -> None:
        self.content = str(content)
        self.entries: dict[str, tuple[str, int, int]] = {}
        self.links: dict[str, str] = {}
        self.kids: dict[str, set[str]] = {"/": set()}
        self.layer_of: dict[str, str] = {}
        self.saved: set[str] = set()
        self.memory: dict[str, bytes] = {}
        self.kept = 0  # bytes kept (memory + disk): capped like extraction (HONED_MAX_UNPACKED)
        self.limit = max_unpacked()
        self.layer_name = ""

    def _keep(self, n: int) -> None:
        self.kept += n
        if self.kept > self.limit:
            raise CorruptLayerError(self.layer_name, f"keeps more than {self.limit} bytes (HONED_MAX_UNPACKED)")

    def _add(self, path: str, entry: tuple[str, int, int], layer: str) -> None:
        self.entries[path] = entry
        self.kids[posixpath.dirname(path)].add(path)
        if entry[0] == DIR:
            self.kids.setdefault(path, set())
        self.layer_of[path] = layer

    def remove(self, path: str) -> None:
        if path not in self.entries:
            return
        stack = [path]
        while stack:
            p = stack.pop()
            self.entries.pop(p, None)
            self.links.pop(p, None)
            self.layer_of.pop(p, None)
            self.memory.pop(p, None)
            stack.extend(self.kids.pop(p, ()))
        self.kids[posixpath.dirname(path)].discard(path)
        host = self.content + path  # the content dir holds only real directories and regular files
        if os.path.isdir(host):
            shutil.rmtree(host, ignore_errors=True)
            self.saved = {s for s in self.saved if not s.startswith(path + "/")}
        elif path in self.saved:
            os.unlink(host)
        self.saved.discard(path)

    def parents(self, path: str, name: str, layer: str, diff_id: str) -> None:
        parent = posixpath.dirname(path)
        missing = []
        while parent != "/":
            e = self.entries.get(parent)
            if e is not None:
                if e[0] != DIR:
                    raise PathEscapeError(name, layer, "lies beneath a symlink or a file")
                break
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for p in reversed(missing):  # implied directories, as a runtime would create them
            self._add(p, (DIR, 0o755, 0), diff_id)

    def save(self, path: str, src: IO[bytes], size: int, head: bytes = b"") -> None:
        self._keep(size)
        host = self.content + path
        os.makedirs(posixpath.dirname(host), exist_ok=True)
        with open(host, "wb") as out:
            out.write(head)
            left = size - len(head)
            while left > 0:
                chunk = src.read(min(left, CHUNK))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        self.saved.add(path)

    def layer(self, tf: tarfile.TarFile, layer_name: str, diff_id: str) -> None:
        self.layer_name = layer_name
        this_layer: set[str] = set()
        for m in tf:
            parts = [p for p in m.name.split("/") if p and p != "."]
            if m.name.startswith("/") or ".." in parts:
                raise PathEscapeError(m.name, layer_name, "is not a path inside the image")
            if not parts:
                continue
            path = "/" + "/".join(parts)
            base = parts[-1]
            parent = posixpath.dirname(path)
            if base.startswith(WH):
                if base == OPAQUE:
                    for child in list(self.kids.get(parent, ())):
                        if child not in this_layer:
                            self.remove(child)
                else:
                    self.remove(posixpath.join(parent, base[len(WH) :]))
                continue
            self.parents(path, m.name, layer_name, diff_id)
            old = self.entries.get(path)
            if old is not None and not (old[0] == DIR and m.isdir()):
                self.remove(path)
            this_layer.add(path)
            mode = m.mode & 0o7777
            if m.isdir():
                self._add(path, (DIR, mode, 0), diff_id)
            elif m.isreg():
                self._add(path, (FILE, mode, m.size), diff_id)
                self._content(tf, m, path, base, mode)
            elif m.issym():
                self._add(path, (LINK, 0o777, 0), diff_id)
                self.links[path] = m.linkname
            elif m.islnk():
                target = "/" + "/".join(p for p in m.linkname.split("/") if p and p != ".")
                e = self.entries.get(target)
                if e is None or e[0] == DIR:
                    raise CorruptLayerError(layer_name, f"hardlink to a missing entry {m.linkname!r}", m.name)
                self._add(path, e, diff_id)
                if target in self.memory:
                    self.memory[path] = self.memory[target]
                elif target in self.saved:
                    os.makedirs(posixpath.dirname(self.content + path), exist_ok=True)
                    os.link(self.content + target, self.content + path)
                    self.saved.add(path)
            else:
                self._add(path, (OTHER, mode, 0), diff_id)

    def _content(self, tf: tarfile.TarFile, m: tarfile.TarInfo, path: str, base: str, mode: int) -> None:
        if path.startswith(_RPM_DIRS):
            src = tf.extractfile(m)
            if src is not None:
                self.save(path, src, m.size)
        elif wanted_metadata(path, base):
            src = tf.extractfile(m)
            if src is not None:
                self._keep(min(m.size, MAX_META_BYTES + 1))
                self.memory[path] = src.read(min(m.size, MAX_META_BYTES + 1))
        elif base.lower().endswith(_ARCHIVES):
            src = tf.extractfile(m)
            if src is not None:
                self.save(path, src, m.size)
        elif is_candidate(base, mode, m.size):
            src = tf.extractfile(m)
            if src is not None:
                head = src.read(4)
                if head == ELF_MAGIC:
                    self.save(path, src, m.size, head)

    def index(self) -> FileIndex:
        idx = FileIndex()
        idx.entries = self.entries
        idx.links = self.links
        idx.children = {d: sorted(k) for d, k in self.kids.items() if d in self.entries or d == "/"}
        return idx


@contextlib.contextmanager
def stream_rootfs(image: Any) -> Iterator[StreamRootFS]:
    """A StreamRootFS for an opened image (honed.image.Image); its temporary contents go on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="honed-catalog-"))
    try:
        b = _Builder(tmp)
        for layer in image.layers:
            with image.layer_tar(layer) as (stream, hasher):
                try:
                    tf = tarfile.open(fileobj=stream, mode="r|")
                    b.layer(tf, layer.digest, layer.diff_id)
                    hasher.drain_and_check()
                except (tarfile.TarError, EOFError, zlib.error, UnicodeError) as e:
                    raise CorruptLayerError(layer.digest, f"{type(e).__name__}: {e}") from None
        yield StreamRootFS(b.index(), tmp, b.layer_of, b.memory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
