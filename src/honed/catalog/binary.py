"""ELF files no package owns. Every one is listed; well-known programs and libraries are identified, with
their version read from their own bytes (DESIGN: binary-level detection where package data is incomplete).

Runs after every other cataloger: it needs their ownership to know which binaries nothing owns.
"""

from __future__ import annotations

import mmap
import posixpath
import re
from dataclasses import dataclass

from packageurl import PackageURL

from honed.catalog import elf
from honed.catalog.context import Context
from honed.model import BinaryMeta, Ecosystem, Package


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # package name reported
    file: re.Pattern[str]  # on the file's base name
    content: tuple[bytes, ...]  # regexes with one group: the version; tried in order
    cpe_vendor: str = ""


def _r(*pats: bytes) -> tuple[bytes, ...]:
    return pats


RULES: tuple[Rule, ...] = (
    Rule("busybox", re.compile(r"^busybox$"), _r(rb"BusyBox v(\d+\.\d+\.\d+)")),
    Rule(
        "openssl",
        re.compile(r"^(openssl|libssl\.so.*|libcrypto\.so.*)$"),
        _r(rb"OpenSSL (\d+\.\d+\.\d+[a-z]?)[ \-]"),
    ),
    Rule("curl", re.compile(r"^(curl|libcurl\.so.*)$"), _r(rb"curl/(\d+\.\d+\.\d+)", rb"libcurl/(\d+\.\d+\.\d+)")),
    Rule("nginx", re.compile(r"^nginx$"), _r(rb"nginx version: nginx/(\d+\.\d+\.\d+)", rb"nginx/(\d+\.\d+\.\d+)")),
    Rule("node", re.compile(r"^node(js)?$"), _r(rb"node\.js/v(\d+\.\d+\.\d+)", rb"\x00v(\d+\.\d+\.\d+)\x00")),
    Rule("redis", re.compile(r"^redis-(server|cli)$"), _r(rb"\x00(\d+\.\d+\.\d+)\x00")),
    Rule(
        "postgresql",
        re.compile(r"^(postgres|postmaster|psql|pg_ctl)$"),
        _r(rb"\(PostgreSQL\) (\d+\.\d+(?:\.\d+)?)"),
    ),
)
_PYTHON = re.compile(r"^(?:python|libpython)(\d+\.\d+)[a-z]*(?:\.so.*)?$")


def identify(base: str, data) -> tuple[str, str, str] | None:  # type: ignore[no-untyped-def]
    """(name, version, rule) for a well-known binary, from its name and bytes (a bytes-like or mmap)."""
    m = _PYTHON.match(base)
    if m:
        short = m.group(1).encode()
        v = re.search(rb"(?<![\d.])(" + re.escape(short) + rb"\.\d+(?:(?:a|b|rc)\d+)?\+?)\x00", data)
        return ("python", v.group(1).decode() if v else "", "python") if v or base.startswith("python") else None
    for rule in RULES:
        if rule.file.match(base):
            for pat in rule.content:
                v = re.search(pat, data)
                if v:
                    return rule.name, v.group(1).decode("ascii", "replace"), rule.name
            return rule.name, "", rule.name
    return None


# dpkg's own database: a compiled maintainer script (bullseye's bash.preinst is an ELF) belongs to its package
# and is no program of the image; the streaming catalog keeps these files as metadata, so listing them here
# also made `sbom` differ between a cold (streamed) and a warm (extracted) cache
_DPKG_DB = "/var/lib/dpkg/"


def run(ctx: Context, paths: list[str]) -> None:
    owned = ctx.cache.get("owned_paths", set())
    for path, _info in sorted(elf.scan(ctx).items()):
        if path in owned or path.startswith(_DPKG_DB):
            continue
        base = posixpath.basename(path)
        found = None
        if _PYTHON.match(base) or any(r.file.match(base) for r in RULES):
            try:
                with ctx.open(path) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                    found = identify(base, mm)
            except (OSError, ValueError) as e:
                ctx.problem(path, f"cannot read binary: {e}")
        if found:
            name, version, rule = found
        else:
            name, version, rule = base, "", ""
        ctx.packages.append(
            Package(
                name=name,
                version=version,
                ecosystem=Ecosystem.BINARY,
                purl=PackageURL(type="generic", name=name, version=version or None).to_string(),
                locations=(ctx.location(path),),
                found_by="binary-classifier" if rule else "elf-unowned",
                meta=BinaryMeta(path=path, matched_by=rule),
            )
        )


def select(path: str, base: str, kind: str) -> bool:
    return False  # works from the shared ELF scan and the ownership of every other cataloger
