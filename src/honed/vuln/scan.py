"""`honed scan`: catalog an image (or read an SBOM), match against the database, apply ignores and VEX.

The result holds every finding — suppressed ones carry `suppressed_by` — so reports are complete; the
view filters (`--severity`, `--ignore-unfixed`) and the gate are applied by `policy.shown` / `policy.gate`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.model import Ecosystem, Finding, Package, Severity
from honed.vuln import policy
from honed.vuln.db import Database
from honed.vuln.match import Distro, match

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    ignore_file: Path | None = None
    vex_files: tuple[Path, ...] = ()
    today: dt.date | None = None  # injected clock for ignore-rule expiry; None = today (UTC)
    distro: str | None = None  # override, e.g. "debian:12"


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    catalog: Any  # honed.catalog.Catalog or vuln.sbom.SbomCatalog
    db_digest: str
    db_built_at: str = ""
    image_ref: str = ""
    image_digest: str = ""
    distro: Distro | None = None
    notices: tuple[str, ...] = ()
    source: str = "image"  # "image" or "sbom"
    packages: dict[str, Package] = field(default_factory=dict)


def _image_ids(cat: Any) -> tuple[str, str]:
    img = getattr(cat, "image", None)
    if img is None:
        return "", ""
    ref = getattr(img, "ref", "")
    digest = getattr(img, "digest", "") or getattr(img, "manifest_digest", "") or getattr(ref, "digest", "") or ""
    return str(ref or ""), str(digest)


def scan(ref_or_catalog: Any, db: Database, options: ScanOptions | None = None) -> ScanResult:
    """Scan an image reference (str), a Catalog, or an SBOM catalog (`vuln.sbom.read_sbom`)."""
    opts = options or ScanOptions()
    image_ref = image_digest = ""
    source = "image"
    if isinstance(ref_or_catalog, str):
        from honed.catalog import catalog_image

        cat = catalog_image(ref_or_catalog)
    else:
        cat = ref_or_catalog
        source = "sbom" if getattr(cat, "format", "") else "image"
    image_ref, image_digest = _image_ids(cat)
    distro = Distro.of(opts.distro) if opts.distro else Distro.of(getattr(cat, "distro", None))
    packages = {p.id: p for p in cat.packages}
    findings = match(list(cat.packages), distro, db)
    notices: list[str] = list(_coverage_notices(cat.packages, distro, db))
    today = opts.today or dt.datetime.now(dt.UTC).date()
    if opts.ignore_file:
        rules = policy.load_ignore_file(opts.ignore_file)
        findings, n = policy.apply_ignores(findings, rules, packages, today)
        notices.extend(n)
    for vf in opts.vex_files:
        findings = policy.apply_vex(findings, policy.load_openvex(vf), packages, {image_ref, image_digest})
    return ScanResult(
        findings=findings, catalog=cat, db_digest=db.digest, db_built_at=db.built_at, image_ref=image_ref,
        image_digest=image_digest, distro=distro, notices=tuple(notices), source=source, packages=packages,
    )


_OS = {Ecosystem.DEBIAN: "dpkg", Ecosystem.ALPINE: "apk", Ecosystem.RPM: "rpm"}


def _coverage_notices(packages: Any, distro: Distro | None, db: Database) -> list[str]:
    """Say so when OS packages could not be matched at all (no distro, or no data for its family)."""
    n = sum(1 for p in packages if p.ecosystem in _OS)
    if not n:
        return []
    fam = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine"}.get(distro.id if distro else "")
    if distro is None or not distro.id:
        return [f"no /etc/os-release distro found: {n} OS package(s) were not matched"]
    if fam is None or not any(e.startswith(fam + ":") for e in db.ecosystems()):
        return [f"the database holds no advisories for {distro.id}: {n} OS package(s) were not matched"]
    return []


def summary(findings: tuple[Finding, ...]) -> dict[str, Any]:
    by_sev = {s.value: 0 for s in reversed(list(Severity))}
    for f in findings:
        if not f.suppressed_by:
            by_sev[f.severity.value] += 1
    return {
        "total": sum(1 for f in findings if not f.suppressed_by),
        "by_severity": by_sev,
        "suppressed": sum(1 for f in findings if f.suppressed_by),
        "malicious": sum(1 for f in findings if f.advisory.malicious and not f.suppressed_by),
        "kev": sum(1 for f in findings if f.advisory.kev and not f.suppressed_by),
        "fixable": sum(1 for f in findings if f.fixed_version and not f.suppressed_by),
    }
