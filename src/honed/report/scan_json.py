"""The scan report as JSON (schema "honed.scan/v1"): every finding, suppressed ones marked, plus the digests
(database and image) that make a count reproducible. Deterministic: sorted keys and findings, no clock."""

from __future__ import annotations

import json
from typing import Any

from honed.model import Finding, Package, Severity
from honed.vuln.policy import GateVerdict, shown
from honed.vuln.scan import ScanResult, summary

SCHEMA = "honed.scan/v1"


def package_dict(p: Package | None) -> dict[str, Any]:
    if p is None:
        return {}
    d: dict[str, Any] = {
        "id": p.id, "name": p.name, "version": p.version, "ecosystem": p.ecosystem.value, "purl": p.purl,
        "locations": [loc.path for loc in p.locations],
    }
    src = getattr(p.meta, "source", None)
    if src:
        d["source"] = src
        d["source_version"] = getattr(p.meta, "source_version", "")
    return d


def finding_dict(f: Finding, pkg: Package | None) -> dict[str, Any]:
    a = f.advisory
    d: dict[str, Any] = {
        "id": a.id,
        "aliases": list(a.aliases),
        "title": a.summary,
        "severity": a.severity.value,
        "cvss": {"vector": a.cvss_vector, "score": a.cvss_score} if a.cvss_vector else None,
        "kev": a.kev,
        "malicious": a.malicious,
        "category": "malicious-package" if a.malicious else "vulnerability",
        "package": package_dict(pkg) or {"id": f.package_id, "name": f.package_name},
        "installed_version": f.installed_version,
        "fixed_version": f.fixed_version,
        "fix_state": "fixed" if f.fixed_version else "not-fixed",
        "references": list(a.references),
        "suppressed": bool(f.suppressed_by),
        "suppressed_by": f.suppressed_by or None,
    }
    if a.urgency:
        d["debian_urgency"] = a.urgency
        d["unimportant"] = a.urgency == "unimportant"
    return d


def to_dict(
    result: ScanResult,
    *,
    min_severity: Severity | None = None,
    ignore_unfixed: bool = False,
    verdict: GateVerdict | None = None,
    tool_version: str = "",
) -> dict[str, Any]:
    view = shown(result.findings, min_severity, ignore_unfixed=ignore_unfixed, include_suppressed=True)
    d = result.distro
    return {
        "schema": SCHEMA,
        "tool": {"name": "honed", "version": tool_version},
        "source": result.source,
        "image": {"ref": result.image_ref, "digest": result.image_digest},
        "distro": {"id": d.id, "version_id": d.version_id, "codename": d.codename} if d else None,
        "database": {"digest": result.db_digest, "built_at": result.db_built_at},
        "filters": {"min_severity": min_severity.value if min_severity else None, "ignore_unfixed": ignore_unfixed},
        "summary": {**summary(result.findings), "packages": len(result.packages)},
        "gate": verdict.to_dict() if verdict else None,
        "notices": list(result.notices),
        "problems": [
            {"path": getattr(pr, "path", ""), "message": getattr(pr, "message", str(pr)), "stage": getattr(pr, "stage", "")}
            for pr in getattr(result.catalog, "problems", ())
        ],
        "findings": [finding_dict(f, result.packages.get(f.package_id)) for f in view],
    }


def render(result: ScanResult, **kw: Any) -> str:
    return json.dumps(to_dict(result, **kw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
