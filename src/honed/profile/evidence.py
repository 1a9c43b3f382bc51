"""Raw tracer output → evidence per image path: {path: {open, exec, map, lookup, missing}}.

What counts (and why), decided here once:
- exec: a file executed (the program, and the dynamic loader the kernel maps for it).
- map: an ELF shared object opened without exec — the loader or dlopen mapping a library.
- open: any other regular file opened.
- lookup: a path went through but not opened — a symlink traversed on the way to a used file, a stat/access/
  readlink check (strace), a Python source whose bytecode cache was loaded (Python stats `mod.py` to
  validate `__pycache__/mod.cpython-311.pyc`; Debian does not list .pyc files, so the source carries the
  package).
- missing: a lookup that failed (ENOENT/ENOTDIR; strace only) — verify's repair loop maps these to removed
  packages.
Directories never count: they are shared by many packages, and crediting them (or merged-/usr links like
`/lib`) would make unused packages look used. Paths the app created (not in the image) never count either.

fanotify reports final targets only, so for it the symlinks are added statically: every symlink in the image
that resolves onto a used file, except development links (`libfoo.so` → `libfoo.so.3`: the loader asks for
the soname, never the bare `.so`). For strace the path the program actually asked for is known, and its
chain of links is followed exactly.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat as st
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

from honed.image.rootfs import DirRootFS, norm, resolve_links
from honed.model import Access
from honed.profile import strace as strace_mod

FAN_OPEN_EXEC = 0x1000
_PYC = re.compile(r"^(.*)/__pycache__/([^/.]+)\.[^/]*\.pyc$")
_DEV_LINK = re.compile(r"/lib[^/]*\.so$")
_MERGED_USR = frozenset({"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"})
_ELF_DYN = 3


class Evidence:
    """Accumulates accesses for one run against the image's (lower, read-only) root filesystem."""

    def __init__(self, rootfs: Path | str) -> None:
        self.fs = DirRootFS(rootfs)
        self._root = str(rootfs)
        self.paths: dict[str, set[Access]] = {}
        self._links: dict[str, list[str]] | None = None

    # -- helpers -------------------------------------------------------------------------------------
    def _lstat(self, path: str) -> os.stat_result | None:
        try:
            return os.lstat(self._root + path)
        except OSError:
            return None

    def _readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._root + path)
        except OSError:  # not a symlink, or missing
            return None

    def _add(self, path: str, access: Access) -> None:
        self.paths.setdefault(path, set()).add(access)

    def _is_elf_dso(self, path: str) -> bool:
        try:
            with open(self._root + path, "rb") as f:
                head = f.read(18)
        except OSError:
            return False
        return (
            len(head) == 18 and head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") == _ELF_DYN
        )

    def _file_use(self, path: str, access: Access) -> None:
        """`path` is fully resolved; record it if it is a regular file of the image, plus its .py source."""
        s = self._lstat(path)
        if s is None or not st.S_ISREG(s.st_mode):
            return
        if access is Access.OPEN and self._is_elf_dso(path):
            access = Access.MAP
        self._add(path, access)
        m = _PYC.match(path)
        if m:
            src = f"{m.group(1)}/{m.group(2)}.py"
            s2 = self._lstat(src)
            if s2 is not None and st.S_ISREG(s2.st_mode):
                self._add(src, Access.LOOKUP)

    def follow(self, path: str, access: Access) -> str:
        """Walk `path` as the kernel would, crediting each symlink passed through (not merged-/usr dir
        links), then the final file with `access`. Returns the resolved path."""
        def credit(link: str) -> None:
            if link not in _MERGED_USR:
                self._add(link, Access.LOOKUP)

        final = resolve_links(norm(path), self._readlink, on_link=credit)
        self._file_use(final, access)
        return final

    def link_index(self) -> dict[str, list[str]]:
        """resolved target → the symlinks in the image that lead onto it (built once, on first use)."""
        if self._links is None:
            links: dict[str, list[str]] = {}
            stack = [""]
            while stack:  # scandir: the entry type comes with the listing, no stat per file
                rel = stack.pop()
                try:
                    entries = list(os.scandir(self._root + (rel or "/")))
                except OSError:
                    continue
                for entry in entries:
                    p = f"{rel}/{entry.name}"
                    if entry.is_symlink():
                        if p not in _MERGED_USR:
                            links.setdefault(self.fs.resolve(p), []).append(p)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(p)
            for v in links.values():
                v.sort()
            self._links = links
        return self._links

    # -- tracer inputs ---------------------------------------------------------------------------------
    def add_fanotify(self, events: Mapping[str, int]) -> None:
        """fanotify's final-target paths (already image paths) with their event masks."""
        links = self.link_index()
        for path, mask in events.items():
            if path.endswith(" (deleted)"):  # the app removed (or replaced) an image file it had opened
                path = path[: -len(" (deleted)")]
            path = norm(path)
            real = self.fs.resolve(path)  # normally equal: fanotify names the file itself
            access = Access.EXEC if mask & FAN_OPEN_EXEC else Access.OPEN
            self._file_use(real, access)
            if real not in self.paths:
                continue
            # symlinks onto the file and onto its parent directories (a venv's lib64 → lib, default-java …)
            d = real
            while d != "/":
                for link in links.get(d, ()):
                    if d == real and _DEV_LINK.search(link) and not _DEV_LINK.search(real):
                        continue
                    self._add(link, Access.LOOKUP)
                d = posixpath.dirname(d)

    def interpreter(self, path: str) -> str | None:
        """What the kernel loads to run `path` (resolved): a script's `#!` interpreter, or an ELF's PT_INTERP
        (the dynamic loader). strace sees neither — the kernel opens them inside execve."""
        try:
            with open(self._root + path, "rb") as f:
                head = f.read(64)
                if head.startswith(b"#!"):
                    line = (head + f.read(192)).split(b"\n", 1)[0][2:].strip().split()
                    return line[0].decode("utf-8", "surrogateescape") if line else None
                if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # 64-bit little-endian only
                    return None
                (phoff,) = struct.unpack_from("<Q", head, 32)
                phentsize, phnum = struct.unpack_from("<HH", head, 54)
                f.seek(phoff)
                table = f.read(phentsize * phnum)
                for i in range(phnum):
                    p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
                        "<IIQQQQ", table, i * phentsize
                    )
                    if p_type == 3:  # PT_INTERP
                        f.seek(p_offset)
                        return (
                            f.read(min(p_filesz, 4096)).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                        )
        except (OSError, struct.error, IndexError):
            return None
        return None

    def add_strace(self, accesses: Iterable[strace_mod.Access]) -> None:
        kinds = {"exec": Access.EXEC, "open": Access.OPEN, "lookup": Access.LOOKUP}
        for a in accesses:
            if a.error is None:
                final = self.follow(a.path, kinds[a.kind])
                if a.kind == "exec":
                    # a script's interpreter and a binary's loader (two levels: `#!/usr/bin/env python3`)
                    for _ in range(2):
                        interp = self.interpreter(final) if final in self.paths else None
                        if not interp:
                            break
                        final = self.follow(interp, Access.EXEC)
            elif a.error in ("ENOENT", "ENOTDIR"):
                self._add(norm(a.path), Access.MISSING)

    def result(self) -> dict[str, frozenset[Access]]:
        return {p: frozenset(a) for p, a in sorted(self.paths.items())}
