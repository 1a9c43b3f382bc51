"""What a file needs to run at all: an ELF's DT_NEEDED sonames, a script's `#!` interpreter.

Used for packages kept *whole* without evidence (preset, keep list, default keep, protected): whatever
they keep must still start, so the packages holding their libraries and interpreters stay too
("never ship a broken image": `--preset standard` kept bash, removed libtinfo6, and bash died on start)."""

from __future__ import annotations

import struct
from typing import BinaryIO

from honed.catalog.elf import ElfError, is_candidate, read_elf, read_section

DT_NEEDED = 1


def needed_sonames(f: BinaryIO, size: int) -> tuple[str, ...]:
    """DT_NEEDED entries of an open ELF file (section headers), in order; () if not ELF or static."""
    try:
        info = read_elf(f, size)
    except ElfError:
        return ()
    dyn, dynstr = info.sections.get(".dynamic"), info.sections.get(".dynstr")
    if dyn is None or dynstr is None or dyn.offset + dyn.size > size or dynstr.offset + dynstr.size > size:
        return ()
    raw = read_section(f, dyn, 1 << 20)
    strs = read_section(f, dynstr, 4 << 20)
    fmt, step = (("<" if info.little else ">") + ("qQ" if info.bits == 64 else "iI"), 16 if info.bits == 64 else 8)
    out = []
    for i in range(0, len(raw) - step + 1, step):
        tag, val = struct.unpack(fmt, raw[i : i + step])
        if tag == 0:
            break
        if tag == DT_NEEDED and val < len(strs):
            end = strs.find(b"\0", val)
            out.append(strs[val : end if end >= 0 else len(strs)].decode("latin-1"))
    return tuple(out)


def file_needs(fs, path: str, mode: int, size: int) -> tuple[tuple[str, str], ...]:  # type: ignore[no-untyped-def]
    """(kind, value) pairs: ("soname", "libtinfo.so.6") for an ELF, ("interpreter", "/usr/bin/perl") for a
    script with a shebang, plus ("program", "node") for `#!/usr/bin/env node`. Reads only headers; unreadable
    files need nothing."""
    base = path.rsplit("/", 1)[-1]
    if not is_candidate(base, mode, size) and not mode & 0o111:
        return ()
    try:
        with fs.open(path) as f:
            head = f.read(4)
            if head == b"\x7fELF":
                f.seek(0)
                return tuple(("soname", s) for s in needed_sonames(f, size))
            if head[:2] == b"#!" and mode & 0o111:
                words = [w.decode("utf-8", "replace") for w in (head + f.read(252)).split(b"\n", 1)[0][2:].split()]
                if words and words[0].startswith("/"):
                    out = [("interpreter", words[0])]
                    if words[0].rsplit("/", 1)[-1] == "env":  # `#!/usr/bin/env [-S] node`: node, on PATH
                        prog = next((w for w in words[1:] if not w.startswith("-") and "=" not in w), None)
                        if prog:
                            out.append(("program", prog))
                    return tuple(out)
    except OSError:
        pass
    return ()
