"""Go binaries: the build info blob (`\\xff Go buildinf:`) in .go.buildinfo → the main module, every
dependency (with `=>` replacements applied) and the Go toolchain as the `stdlib` package.

Go ≥ 1.18 stores the version and module strings inline (flag bit 2); older binaries store pointers to Go
string headers, resolved here through the PT_LOAD segments.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from packageurl import PackageURL

from honed.catalog import elf
from honed.catalog.context import Context
from honed.model import Ecosystem, GoModMeta, Package

MAGIC = b"\xff Go buildinf:"


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str
    sum: str = ""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str
    main: Module | None
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]


def _uvarint(b: bytes, pos: int) -> tuple[int, int]:
    x = shift = 0
    while pos < len(b):
        c = b[pos]
        pos += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _varint_str(b: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _uvarint(b, pos)
    if pos + n > len(b):
        raise ValueError("truncated string")
    return b[pos : pos + n], pos + n


def parse_modinfo(text: str) -> tuple[Module | None, tuple[Module, ...], tuple[tuple[str, str], ...]]:
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last_dep = False
    for line in text.split("\n"):
        parts = line.split("\t")
        if parts[0] == "mod" and len(parts) >= 3:
            main = Module(parts[1], parts[2], parts[3] if len(parts) > 3 else "")
            last_dep = False
        elif parts[0] == "dep" and len(parts) >= 3:
            deps.append(Module(parts[1], parts[2], parts[3] if len(parts) > 3 else ""))
            last_dep = True
        elif parts[0] == "=>" and len(parts) >= 3:
            rep = Module(parts[1], parts[2], parts[3] if len(parts) > 3 else "")
            if last_dep and deps:
                # a replacement keeps the dependency's import path when it points at a local directory
                deps[-1] = rep if rep.version else Module(deps[-1].path, deps[-1].version, deps[-1].sum)
            elif main is not None and rep.version:
                main = rep
        elif parts[0] == "build" and len(parts) >= 2 and "=" in parts[1]:
            k, v = parts[1].split("=", 1)
            settings.append((k, v))
    return main, tuple(deps), tuple(settings)


def _strip_sentinels(mod: bytes) -> bytes:
    # runtime/debug wraps modinfo in 16-byte sentinels; the byte before the end sentinel is '\n'
    if len(mod) >= 33 and mod[-17] == 0x0A:
        return mod[16:-16]
    return mod


def parse_buildinfo(blob: bytes, read_at=None) -> BuildInfo:  # type: ignore[no-untyped-def]
    """`blob` starts at the magic. `read_at(vaddr, n)` reads memory for the pre-1.18 pointer format."""
    if not blob.startswith(MAGIC) or len(blob) < 32:
        raise ValueError("no Go build info")
    ptr_size, flags = blob[14], blob[15]
    if flags & 2:
        vers, pos = _varint_str(blob, 32)
        mod, _ = _varint_str(blob, pos)
    else:
        if read_at is None or ptr_size not in (4, 8):
            raise ValueError("pointer-format build info needs the binary's segments")
        order = ">" if flags & 1 else "<"
        fmt = order + ("Q" if ptr_size == 8 else "I")

        def go_string(addr: int) -> bytes:
            hdr = read_at(addr, 2 * ptr_size)
            data_ptr = struct.unpack(fmt, hdr[:ptr_size])[0]
            n = struct.unpack(fmt, hdr[ptr_size:])[0]
            if n > (1 << 24):
                raise ValueError("implausible string length")
            return read_at(data_ptr, n) if n else b""  # type: ignore[no-any-return]

        vptr = struct.unpack(fmt, blob[16 : 16 + ptr_size])[0]
        mptr = struct.unpack(fmt, blob[16 + ptr_size : 16 + 2 * ptr_size])[0]
        vers, mod = go_string(vptr), go_string(mptr)
    main, deps, settings = parse_modinfo(_strip_sentinels(mod).decode("utf-8", "replace"))
    return BuildInfo(vers.decode("utf-8", "replace"), main, deps, settings)


def read_binary(f, info: elf.ElfInfo) -> BuildInfo | None:  # type: ignore[no-untyped-def]
    sec = info.sections.get(".go.buildinfo")
    if sec is None:
        return None
    blob = elf.read_section(f, sec, 64 << 10)

    def read_at(addr: int, n: int) -> bytes:
        off = info.vaddr_to_offset(addr)
        if off is None:
            raise ValueError(f"address {addr:#x} not in a segment")
        f.seek(off)
        return f.read(n)  # type: ignore[no-any-return]

    return parse_buildinfo(blob, read_at)


def purl(path: str, version: str) -> str:
    ns, _, name = path.rpartition("/")
    return PackageURL(type="golang", namespace=ns or None, name=name, version=version or None).to_string()


_LDFLAGS_VERSION = re.compile(r"-X\s+['\"]?[\w./-]*\.(?:[vV]ersion|gitVersion|buildVersion)=['\"]?v?(\d+\.\d+\.\d+[\w.+-]*)")


def main_version(bi: BuildInfo) -> str:
    """The main module's version; for "(devel)" builds, the one stamped by `-ldflags -X ….version=`."""
    v = bi.main.version if bi.main else ""
    if v and v != "(devel)":
        return v
    for k, val in bi.settings:
        if k == "-ldflags":
            m = _LDFLAGS_VERSION.search(val)
            if m:
                return "v" + m.group(1)
    return v


def packages_of(bi: BuildInfo, binary: str, loc) -> list[Package]:  # type: ignore[no-untyped-def]
    main_path = bi.main.path if bi.main else ""
    out = []

    def pkg(m: Module, *, main: bool = False) -> Package:
        return Package(
            name=m.path,
            version=m.version,
            ecosystem=Ecosystem.GO,
            purl=purl(m.path, m.version if m.version != "(devel)" else ""),
            locations=(loc,),
            found_by="go-module-binary",
            meta=GoModMeta(binary_path=binary, go_version=bi.go_version, main_module=main_path, sum=m.sum),
        )

    if bi.main and bi.main.path:
        out.append(pkg(Module(bi.main.path, main_version(bi), bi.main.sum), main=True))
    out.extend(pkg(d) for d in bi.deps)
    if bi.go_version.startswith("go"):
        v = bi.go_version.split()[0]
        out.append(
            Package(
                name="stdlib",
                version=v,
                ecosystem=Ecosystem.GO,
                purl=PackageURL(type="golang", name="stdlib", version=v[2:]).to_string(),
                locations=(loc,),
                licenses=("BSD-3-Clause",),
                found_by="go-module-binary",
                meta=GoModMeta(binary_path=binary, go_version=bi.go_version, main_module=main_path),
            )
        )
    return out


def run(ctx: Context, paths: list[str]) -> None:
    for path, info in sorted(elf.scan(ctx).items()):
        if ".go.buildinfo" not in info.sections:
            continue
        try:
            with ctx.open(path) as f:
                bi = read_binary(f, info)
        except (OSError, ValueError, struct.error) as e:
            ctx.problem(path, f"unreadable Go build info: {e}")
            continue
        if bi is not None:
            ctx.packages.extend(packages_of(bi, path, ctx.location(path)))


def select(path: str, base: str, kind: str) -> bool:
    return False  # works from the shared ELF scan
