"""Streams over blobs: digest verification while reading, and decompression chosen by magic bytes.

Every byte honed reads from an image passes through a `HashingReader`; the digest is checked when the
stream reaches its end, so a layer is verified in the same single pass that unpacks it.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import Any, BinaryIO

from honed.errors import CorruptLayerError, DigestMismatchError

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def new_hash(digest: str) -> hashlib._Hash:
    alg = digest.split(":", 1)[0]
    if alg not in ("sha256", "sha512"):
        raise DigestMismatchError(digest, "a sha256 or sha512 digest", digest)
    return hashlib.new(alg)


class HashingReader(io.RawIOBase):
    """Reads `raw`, hashing every byte; at EOF checks the digest (and the size, when known)."""

    def __init__(self, raw: BinaryIO, digest: str, what: str, size: int | None = None) -> None:
        self._raw = raw
        self._h = new_hash(digest)
        self.expected = digest
        self.what = what
        self.size = size
        self.count = 0
        self.verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if n:
            self._h.update(memoryview(b)[:n])
            self.count += n
            if self.size is not None and self.count > self.size:
                raise DigestMismatchError(f"{self.what} (longer than its declared size {self.size})",
                                          self.expected, "a longer blob")
        else:
            self.check()
        return n or 0

    def check(self) -> None:
        if self.verified:
            return
        actual = f"{self.expected.split(':', 1)[0]}:{self._h.hexdigest()}"
        if actual != self.expected:
            raise DigestMismatchError(self.what, self.expected, actual)
        if self.size is not None and self.count != self.size:
            raise DigestMismatchError(f"{self.what} (size {self.count}, declared {self.size})",
                                      self.expected, actual)
        self.verified = True

    def drain(self) -> None:
        """Read to the end (so the digest covers every byte) and verify."""
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            pass
        self.check()

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _Decompressing(io.RawIOBase):
    """A raw stream of decompressed bytes; `layer` names the layer in errors."""

    def __init__(self, src: Any, kind: str, layer: str) -> None:
        self._src = src
        self.kind = kind
        self.layer = layer
        self._buf = b""
        self._pos = 0
        self._eof = False
        if kind == "gzip":
            self._d: object = zlib.decompressobj(wbits=31)
        else:
            import zstandard

            self._d = zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def _more(self) -> None:
        if self._pos >= len(self._buf):
            self._buf, self._pos = b"", 0
        while not self._buf and not self._eof:
            data = self._src.read(CHUNK)
            try:
                if self.kind == "gzip":
                    d: zlib._Decompress = self._d  # type: ignore[assignment]
                    if not data:
                        if not d.eof:
                            raise CorruptLayerError(self.layer, "gzip stream is truncated")
                        self._eof = True
                        return
                    out = d.decompress(data)
                    # A gzip file may hold several members back to back (pigz, concatenation).
                    while d.eof and d.unused_data:
                        rest = d.unused_data
                        d = self._d = zlib.decompressobj(wbits=31)
                        out += d.decompress(rest)
                    self._buf = out
                else:
                    if not data:
                        dz = self._d
                        if not getattr(dz, "eof", True):
                            raise CorruptLayerError(self.layer, "zstd stream is truncated")
                        self._eof = True
                        return
                    self._buf = self._zstd(data)
            except zlib.error as e:
                raise CorruptLayerError(self.layer, f"gzip data is corrupt ({e})") from None
            except CorruptLayerError:
                raise
            except Exception as e:  # zstandard.ZstdError has no stable import path across versions
                if type(e).__name__ == "ZstdError":
                    raise CorruptLayerError(self.layer, f"zstd data is corrupt ({e})") from None
                raise

    def _zstd(self, data: bytes) -> bytes:
        import zstandard

        out = bytearray()
        while data:
            d = self._d
            out += d.decompress(data)  # type: ignore[attr-defined]
            data = d.unused_data if d.eof else b""  # type: ignore[attr-defined]
            if data:  # concatenated frames
                self._d = zstandard.ZstdDecompressor().decompressobj()
        return bytes(out)

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        self._more()
        if not self._buf:
            return 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = memoryview(self._buf)[self._pos : self._pos + n]
        self._pos += n
        return n


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompressed(blob: HashingReader, layer: str) -> tuple[Any, str]:
    """Wrap a verified blob stream in the decompressor its first bytes call for (not its media type)."""
    buffered = io.BufferedReader(blob, CHUNK)
    kind = sniff(buffered.peek(4)[:4])
    if kind == "none":
        return buffered, kind
    return io.BufferedReader(_Decompressing(buffered, kind, layer), CHUNK), kind


class TarHasher(io.RawIOBase):
    """Hashes the decompressed tar as it is read, to check the layer's diff_id."""

    def __init__(self, src: BinaryIO, diff_id: str, layer: str) -> None:
        self._src = src
        self._h = new_hash(diff_id)
        self.diff_id = diff_id
        self.layer = layer
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self._src.readinto(b)  # type: ignore[attr-defined]
        if n:
            self._h.update(memoryview(b)[:n])
            self.count += n
        return n or 0

    def drain_and_check(self) -> None:
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            pass
        actual = f"{self.diff_id.split(':', 1)[0]}:{self._h.hexdigest()}"
        if actual != self.diff_id:
            raise DigestMismatchError(f"layer {self.layer} (uncompressed, diff_id)", self.diff_id, actual)
