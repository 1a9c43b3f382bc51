"""Rust binaries built with cargo-auditable: the `.dep-v0` section holds zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`."""

from __future__ import annotations

import json
import zlib

from packageurl import PackageURL

from honed.catalog import elf
from honed.catalog.context import Context
from honed.model import BinaryMeta, Ecosystem, Package

MAX_JSON = 16 << 20


def parse_dep_v0(blob: bytes) -> list[dict]:  # type: ignore[type-arg]
    d = zlib.decompressobj()
    raw = d.decompress(blob, MAX_JSON)
    if d.unconsumed_tail:
        raise ValueError("dependency list larger than 16 MiB")
    doc = json.loads(raw)
    pkgs = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(pkgs, list):
        raise ValueError("no packages list")
    return [p for p in pkgs if isinstance(p, dict) and isinstance(p.get("name"), str)]


def run(ctx: Context, paths: list[str]) -> None:
    for path, info in sorted(elf.scan(ctx).items()):
        sec = info.sections.get(".dep-v0")
        if sec is None:
            continue
        try:
            with ctx.open(path) as f:
                entries = parse_dep_v0(elf.read_section(f, sec))
        except (OSError, ValueError, zlib.error) as e:
            ctx.problem(path, f"unreadable cargo-auditable data: {e}")
            continue
        loc = ctx.location(path)
        for p in entries:
            name, version = p["name"], str(p.get("version", ""))
            ctx.packages.append(
                Package(
                    name=name,
                    version=version,
                    ecosystem=Ecosystem.CARGO,
                    purl=PackageURL(type="cargo", name=name, version=version or None).to_string(),
                    locations=(loc,),
                    found_by="cargo-auditable-binary",
                    meta=BinaryMeta(path=path, matched_by="cargo-auditable"),
                )
            )


def select(path: str, base: str, kind: str) -> bool:
    return False  # works from the shared ELF scan
