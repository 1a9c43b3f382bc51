"""Just enough ELF to find named sections (Go's .go.buildinfo, cargo-auditable's .dep-v0) and segment
mappings, reading only the headers — never the whole file."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"\x7fELF"


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    offset: int
    size: int
    addr: int


@dataclass(frozen=True, slots=True)
class ElfInfo:
    bits: int
    little: bool
    etype: int
    sections: dict[str, Section]
    segments: tuple[tuple[int, int, int, int], ...]  # (vaddr, offset, filesz, type) of PT_LOAD

    def vaddr_to_offset(self, addr: int) -> int | None:
        for vaddr, off, size, _ in self.segments:
            if vaddr <= addr < vaddr + size:
                return off + addr - vaddr
        return None


class ElfError(ValueError):
    pass


def read_elf(f: BinaryIO, file_size: int) -> ElfInfo:
    """Parse the ELF header, section headers (names) and PT_LOAD program headers of an open file."""
    head = f.read(64)
    if len(head) < 52 or head[:4] != MAGIC:
        raise ElfError("not an ELF file")
    cls, data = head[4], head[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise ElfError("bad ELF class or byte order")
    bits = 64 if cls == 2 else 32
    e = "<" if data == 1 else ">"
    if bits == 64:
        etype, _m, _v, _entry, phoff, shoff, _fl, _eh, phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack(
            e + "HHIQQQIHHHHHH", head[16:64]
        )
    else:
        etype, _m, _v, _entry, phoff, shoff, _fl, _eh, phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack(
            e + "HHIIIIIHHHHHH", head[16:52]
        )
    segments = []
    if phoff and 0 < phnum < 4096 and phoff + phnum * phentsize <= file_size:
        f.seek(phoff)
        ph = f.read(phnum * phentsize)
        for i in range(phnum):
            b = ph[i * phentsize : (i + 1) * phentsize]
            if bits == 64:
                ptype, _flags, off, vaddr, _paddr, filesz = struct.unpack(e + "IIQQQQ", b[:40])
            else:
                ptype, off, vaddr, _paddr, filesz = struct.unpack(e + "IIIII", b[:20])
            if ptype == 1:
                segments.append((vaddr, off, filesz, ptype))
    sections: dict[str, Section] = {}
    if shoff and 0 < shnum < 65536 and shoff + shnum * shentsize <= file_size and shstrndx < shnum:
        f.seek(shoff)
        sh = f.read(shnum * shentsize)
        raw = []
        for i in range(shnum):
            b = sh[i * shentsize : (i + 1) * shentsize]
            if bits == 64:
                name, _t, _fl, addr, off, size = struct.unpack(e + "IIQQQQ", b[:40])
            else:
                name, _t, _fl, addr, off, size = struct.unpack(e + "IIIIII", b[:24])
            raw.append((name, off, size, addr))
        _, stroff, strsize, _ = raw[shstrndx]
        if stroff + strsize <= file_size and strsize < (1 << 20):
            f.seek(stroff)
            strtab = f.read(strsize)
            for name, off, size, addr in raw:
                end = strtab.find(b"\0", name)
                if end < 0:
                    continue
                n = strtab[name:end].decode("latin-1")
                if n and n not in sections:
                    sections[n] = Section(n, off, size, addr)
    return ElfInfo(bits=bits, little=data == 1, etype=etype, sections=sections, segments=tuple(segments))


def read_section(f: BinaryIO, sec: Section, limit: int = 64 << 20) -> bytes:
    f.seek(sec.offset)
    return f.read(min(sec.size, limit))


def is_candidate(base: str, mode: int, size: int) -> bool:
    """Files worth opening as possible ELF binaries: executable, or a shared object by name."""
    return size >= 64 and (bool(mode & 0o111) or ".so" in base)


def scan(ctx) -> dict[str, ElfInfo]:  # type: ignore[no-untyped-def]
    """ELF headers of every candidate file in the image, read once and shared by the Go, Rust and binary
    catalogers (cached on the context)."""
    cached = ctx.cache.get("elf")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: dict[str, ElfInfo] = {}
    host = ctx.rootfs.host_path
    for path, (kind, mode, size) in ctx.index.entries.items():
        if kind != "f" or not is_candidate(path.rsplit("/", 1)[-1], mode, size):
            continue
        try:
            with open(host(path), "rb") as f:
                if f.read(4) != MAGIC:
                    continue
                f.seek(0)
                out[path] = read_elf(f, size)
        except (OSError, ElfError, struct.error):
            continue
    ctx.cache["elf"] = out
    return out
