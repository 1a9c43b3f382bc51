"""Where blobs come from: an OCI layout directory, a tar archive (OCI or docker-archive), or a skopeo `dir:`
copy in the content cache. A source only finds bytes by digest; verification is the caller's
(`honed.image.stream.HashingReader`). Sources never write to their input.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

from honed.errors import ManifestError, MissingBlobError


class BlobSource:
    where: str

    def open(self, digest: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, digest: str) -> int | None:
        return None

    def read_small(self, digest: str, limit: int) -> bytes:
        with self.open(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ManifestError(f"blob {digest} in {self.where} is larger than {limit} bytes; refusing to parse it")
        return data

    def close(self) -> None:
        pass


def _hex_of(digest: str, where: str) -> tuple[str, str]:
    alg, sep, hexd = digest.partition(":")
    if not sep or alg not in ("sha256", "sha512") or not hexd or not all(c in "0123456789abcdef" for c in hexd):
        raise ManifestError(f"invalid digest {digest!r} in {where}")
    return alg, hexd


class LayoutSource(BlobSource):
    """An OCI image layout directory: blobs/<alg>/<hex>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, digest: str) -> Path:
        alg, hexd = _hex_of(digest, self.where)
        return self.root / "blobs" / alg / hexd

    def open(self, digest: str) -> BinaryIO:
        p = self._path(digest)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MissingBlobError(digest, self.where) from None
        except OSError as e:
            raise MissingBlobError(digest, f"{self.where} ({e.strerror})") from None
        return os.fdopen(fd, "rb", buffering=0)

    def size(self, digest: str) -> int | None:
        try:
            return os.lstat(self._path(digest)).st_size
        except OSError:
            return None


class DirSource(BlobSource):
    """skopeo's `dir:` transport: manifest.json plus blobs named by their hex digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, digest: str) -> Path:
        _, hexd = _hex_of(digest, self.where)
        return self.root / hexd

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._path(digest), "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise MissingBlobError(digest, self.where) from None

    def size(self, digest: str) -> int | None:
        try:
            return os.stat(self._path(digest)).st_size
        except OSError:
            return None


class _Section(io.RawIOBase):
    """A read-only window on a file: one tar member's data, read without extracting."""

    def __init__(self, path: str, offset: int, size: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._off = offset
        self._end = offset + size
        self._pos = offset

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = min(len(b), self._end - self._pos)
        if n <= 0:
            return 0
        got = os.preadv(self._fd, [memoryview(b)[:n]], self._pos)
        self._pos += got
        return got

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class TarSource(BlobSource):
    """An uncompressed tar archive read in place: member name -> (offset, size), symlinks followed inside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            with tarfile.open(path, "r:") as tf:
                for m in tf:
                    name = m.name
                    while name.startswith("./"):
                        name = name[2:]
                    self.members[name] = m
        except FileNotFoundError:
            raise ManifestError(f"{path} does not exist") from None
        except IsADirectoryError:
            raise ManifestError(f"{path} is a directory, not an archive") from None
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ManifestError(
                f"{path} is not a readable uncompressed tar archive ({e})",
                hint="OCI and docker archives are plain tar files; decompress it first",
            ) from None

    def member(self, name: str, hops: int = 0) -> tarfile.TarInfo | None:
        m = self.members.get(name)
        if m is not None and (m.issym() or m.islnk()) and hops < 8:
            import posixpath

            target = m.linkname if m.islnk() else posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname))
            return self.member(target, hops + 1)
        return m if m is not None and m.isreg() else None

    def open_member(self, name: str, digest_for_error: str = "") -> BinaryIO:
        m = self.member(name)
        if m is None:
            raise MissingBlobError(digest_for_error or name, self.where)
        return _Section(str(self.path), m.offset_data, m.size)  # type: ignore[return-value]

    def member_size(self, name: str) -> int | None:
        m = self.member(name)
        return m.size if m is not None else None


class OCIArchiveSource(BlobSource):
    def __init__(self, tar: TarSource) -> None:
        self.tar = tar
        self.where = tar.where

    def open(self, digest: str) -> BinaryIO:
        alg, hexd = _hex_of(digest, self.where)
        return self.tar.open_member(f"blobs/{alg}/{hexd}", digest)

    def size(self, digest: str) -> int | None:
        alg, hexd = _hex_of(digest, self.where)
        return self.tar.member_size(f"blobs/{alg}/{hexd}")


class DockerArchiveSource(BlobSource):
    """`docker save` output: blobs are looked up through a digest -> member-name table built from manifest.json."""

    def __init__(self, tar: TarSource) -> None:
        self.tar = tar
        self.where = tar.where
        self.names: dict[str, str] = {}

    def open(self, digest: str) -> BinaryIO:
        name = self.names.get(digest)
        if name is None:
            raise MissingBlobError(digest, self.where)
        return self.tar.open_member(name, digest)

    def size(self, digest: str) -> int | None:
        name = self.names.get(digest)
        return self.tar.member_size(name) if name else None
