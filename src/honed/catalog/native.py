"""honed's own catalog JSON ("honed.catalog/v1") — lossless: it reads back into the same Catalog, ownership
index included (`honed scan --sbom FILE` and the later stages read it) — and the plain-text table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from honed import __version__
from honed.catalog.context import Distro
from honed.catalog.core import Catalog, ImageInfo
from honed.catalog.ownership import OwnershipIndex
from honed.errors import UserError
from honed.model import (
    ApkMeta,
    BinaryMeta,
    DpkgMeta,
    Ecosystem,
    GoModMeta,
    JarMeta,
    Location,
    NpmMeta,
    Package,
    Problem,
    PythonMeta,
    RpmMeta,
)

SCHEMA = "honed.catalog/v1"
_META = {
    "dpkg": DpkgMeta,
    "apk": ApkMeta,
    "rpm": RpmMeta,
    "python": PythonMeta,
    "npm": NpmMeta,
    "jar": JarMeta,
    "go": GoModMeta,
    "binary": BinaryMeta,
}
_META_NAME = {cls: name for name, cls in _META.items()}


class CatalogFormatError(UserError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: not a honed catalog ({reason})", hint=f"expected JSON with schema {SCHEMA!r}")


def _plain(obj: Any) -> Any:
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    return obj


def package_to_dict(p: Package) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "ecosystem": p.ecosystem.value,
        "purl": p.purl,
        "licenses": list(p.licenses),
        "found_by": p.found_by,
        "locations": [{"path": loc.path, "layer": loc.layer} for loc in p.locations],
    }
    if p.meta is not None:
        m = {"type": _META_NAME[type(p.meta)]}
        for f in dataclasses.fields(p.meta):
            m[f.name] = _plain(getattr(p.meta, f.name))
        d["meta"] = m
    return d


def package_from_dict(d: dict[str, Any]) -> Package:
    meta = None
    if d.get("meta"):
        m = dict(d["meta"])
        cls = _META[m.pop("type")]
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in m:
                v = m[f.name]
                kw[f.name] = tuple(v) if isinstance(v, list) else v
        meta = cls(**kw)
    return Package(
        name=d["name"],
        version=d["version"],
        ecosystem=Ecosystem(d["ecosystem"]),
        purl=d["purl"],
        locations=tuple(Location(path=loc["path"], layer=loc.get("layer")) for loc in d.get("locations", [])),
        licenses=tuple(d.get("licenses", [])),
        found_by=d.get("found_by", ""),
        meta=meta,  # type: ignore[arg-type]
    )


def to_dict(cat: Catalog) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "tool": {"name": "honed", "version": __version__},
        "image": dataclasses.asdict(cat.image) if cat.image else None,
        "distro": dataclasses.asdict(cat.distro) if cat.distro else None,
        "catalogers": [{"name": n, "version": v} for n, v in cat.catalogers],
        "packages": [package_to_dict(p) for p in cat.packages],
        "problems": [dataclasses.asdict(p) for p in cat.problems],
        "dir_links": dict(sorted(cat.dir_links.items())),
        "diversions": [list(d) for d in cat.diversions],
    }


def dumps(cat: Catalog) -> str:
    return json.dumps(to_dict(cat), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def from_dict(doc: Any, where: str = "catalog") -> Catalog:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CatalogFormatError(where, f"schema is {doc.get('schema') if isinstance(doc, dict) else None!r}")
    try:
        packages = tuple(package_from_dict(p) for p in doc.get("packages", []))
        img = doc.get("image")
        dist = doc.get("distro")
        dir_links = dict(doc.get("dir_links") or {})
        diversions = tuple(tuple(x) for x in doc.get("diversions") or ())
        return Catalog(
            packages=packages,
            problems=tuple(Problem(**p) for p in doc.get("problems", [])),
            distro=Distro(**{**dist, "id_like": tuple(dist.get("id_like", ()))}) if dist else None,
            ownership=OwnershipIndex(packages, dir_links, diversions),  # type: ignore[arg-type]
            image=ImageInfo(**{**img, "layers": tuple(img.get("layers", ()))}) if img else None,
            catalogers=tuple((c["name"], c["version"]) for c in doc.get("catalogers", [])),
            dir_links=dir_links,
            diversions=diversions,  # type: ignore[arg-type]
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CatalogFormatError(where, f"{type(e).__name__}: {e}") from None


def load(path: Path | str) -> Catalog:
    """Read a catalog JSON written by `honed sbom -o json`."""
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes())
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from None
    except ValueError as e:
        raise CatalogFormatError(str(p), f"invalid JSON: {e}") from None
    return from_dict(doc, str(p))


def table(cat: Catalog) -> str:
    rows = [("NAME", "VERSION", "TYPE", "LOCATION")]
    for p in cat.packages:
        rows.append((p.name, p.version or "-", p.ecosystem.value, p.locations[0].path if p.locations else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows
    ]
    if cat.problems:
        out.append("")
        out.append(f"{len(cat.problems)} problem(s):")
        out.extend(f"  {pr.path}: {pr.message}" for pr in cat.problems)
    return "\n".join(out) + "\n"
