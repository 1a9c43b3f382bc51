"""Reading a CycloneDX or SPDX JSON SBOM (ours or syft's) into packages for matching.

Only what matching needs is read: each package's purl (ecosystem, name, version), for Debian its source
package and source version (syft: the `upstream=src[@ver]` purl qualifier or `syft:metadata:source*`
properties; ours: `honed:deb:source*` properties), the location of its files, and the distro (a CycloneDX
`operating-system` component, or a purl's `distro=debian-12` qualifier).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from honed.errors import UserError
from honed.model import DpkgMeta, Ecosystem, JarMeta, Location, Package, PythonMeta

_TYPES = {
    "deb": Ecosystem.DEBIAN, "apk": Ecosystem.ALPINE, "rpm": Ecosystem.RPM, "pypi": Ecosystem.PYPI,
    "npm": Ecosystem.NPM, "maven": Ecosystem.MAVEN, "golang": Ecosystem.GO, "cargo": Ecosystem.CARGO,
}


@dataclass(frozen=True, slots=True)
class SbomDistro:
    id: str
    version_id: str
    codename: str = ""


@dataclass(frozen=True, slots=True)
class SbomCatalog:
    """Quacks like a Catalog for matching and reports: `.packages`, `.distro`, `.problems`."""

    packages: tuple[Package, ...]
    distro: SbomDistro | None
    problems: tuple[Any, ...] = ()
    format: str = ""


def _package(purl_s: str, name: str, version: str, props: dict[str, str], locs: list[str]) -> Package | None:
    try:
        purl = PackageURL.from_string(purl_s)
    except ValueError:
        return None
    eco = _TYPES.get(purl.type)
    if eco is None:
        return None
    q = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    version = purl.version or version
    pname = purl.name if eco != Ecosystem.GO or not purl.namespace else f"{purl.namespace}/{purl.name}"
    if eco == Ecosystem.NPM and purl.namespace:
        pname = f"{purl.namespace}/{purl.name}"
    if eco == Ecosystem.PYPI and name and canonicalize_name(name) == canonicalize_name(purl.name):
        pname = name  # keep the distribution's own spelling ("Flask"); purls are lower-cased
    meta: Any = None
    if eco == Ecosystem.DEBIAN:
        src = props.get("honed:deb:source") or props.get("syft:metadata:source") or ""
        srcv = props.get("honed:deb:source_version") or props.get("syft:metadata:sourceVersion") or ""
        up = q.get("upstream", "")
        if up:
            s, _, v = up.partition("@")
            src, srcv = src or s, srcv or v
        meta = DpkgMeta(source=src or pname, source_version=srcv or version, arch=q.get("arch", ""))
    elif eco == Ecosystem.PYPI and props.get("honed:python:dist_dir"):
        meta = PythonMeta(dist_dir=props["honed:python:dist_dir"])
    elif eco == Ecosystem.MAVEN:
        meta = JarMeta(archive_path=locs[0] if locs else "", group_id=purl.namespace or "", artifact_id=purl.name)
    clean = PackageURL(purl.type, purl.namespace, purl.name, purl.version,
                       {k: v for k, v in q.items() if k != "package-id"} or None, purl.subpath).to_string()
    return Package(name=pname or name, version=version, ecosystem=eco, purl=clean,
                   locations=tuple(Location(p) for p in locs[:1]), meta=meta, found_by="sbom")


def _distro_from_purls(purls: list[str]) -> SbomDistro | None:
    for s in purls:
        try:
            q = PackageURL.from_string(s).qualifiers
        except ValueError:
            continue
        d = (q or {}).get("distro", "") if isinstance(q, dict) else ""
        if d:
            i, _, v = d.partition("-")
            return SbomDistro(i, v)
    return None


def read_sbom(path: Path | str) -> SbomCatalog:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read SBOM {p}: {e.strerror}") from e
    except ValueError as e:
        raise UserError(f"SBOM {p} is not valid JSON: {e}") from e
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc)
    if isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        return _spdx(doc)
    raise UserError(f"{p} is neither a CycloneDX nor an SPDX JSON document")


def _cyclonedx(doc: dict[str, Any]) -> SbomCatalog:
    pkgs: dict[str, Package] = {}
    distro: SbomDistro | None = None
    purls: list[str] = []

    def walk(cs: list[Any]) -> None:
        nonlocal distro
        for c in cs:
            if not isinstance(c, dict):
                continue
            props = {str(x.get("name")): str(x.get("value")) for x in c.get("properties") or () if isinstance(x, dict)}
            if c.get("type") == "operating-system":
                distro = SbomDistro(str(c.get("name", "")).lower(), str(c.get("version", "")),
                                    props.get("syft:distro:versionCodename", ""))
            elif c.get("purl"):
                purls.append(c["purl"])
                # ours: honed:location:0:path; syft: syft:location:0:path
                locs = [v for k, v in sorted(props.items()) if k.endswith("location:0:path")]
                pkg = _package(c["purl"], str(c.get("name", "")), str(c.get("version", "")), props, locs)
                if pkg is not None:
                    pkgs.setdefault(pkg.id, pkg)
            walk(c.get("components") or [])

    walk(doc.get("components") or [])
    meta_c = (doc.get("metadata") or {}).get("component")
    if isinstance(meta_c, dict) and meta_c.get("type") == "operating-system":
        walk([meta_c])
    return SbomCatalog(tuple(sorted(pkgs.values(), key=lambda p: p.id)), distro or _distro_from_purls(purls),
                       format="cyclonedx")


def _spdx(doc: dict[str, Any]) -> SbomCatalog:
    pkgs: dict[str, Package] = {}
    purls: list[str] = []
    distro: SbomDistro | None = None
    for sp in doc.get("packages") or ():
        if not isinstance(sp, dict):
            continue
        if sp.get("primaryPackagePurpose") == "OPERATING-SYSTEM":
            distro = SbomDistro(str(sp.get("name", "")).lower(), str(sp.get("versionInfo", "")))
            continue
        refs = [str(r.get("referenceLocator")) for r in sp.get("externalRefs") or ()
                if isinstance(r, dict) and r.get("referenceType") == "purl" and r.get("referenceLocator")]
        if not refs:
            continue
        purls.append(refs[0])
        src = str(sp.get("sourceInfo") or "")
        if " at /" in src:  # ours: "found by honed dpkg at /var/lib/dpkg/status"
            locs = [src.rsplit(" at ", 1)[1].split(",")[0].split(" (layer")[0].strip()]
        elif ":" in src:  # syft: "acquired package info from DPKG DB: /a, /b"
            locs = [x.strip() for x in src.split(":", 1)[1].split(",")]
        else:
            locs = []
        pkg = _package(refs[0], str(sp.get("name", "")), str(sp.get("versionInfo", "")), {}, locs)
        if pkg is not None:
            pkgs.setdefault(pkg.id, pkg)
    return SbomCatalog(tuple(sorted(pkgs.values(), key=lambda p: p.id)), distro or _distro_from_purls(purls),
                       format="spdx")
