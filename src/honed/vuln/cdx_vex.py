"""The scan as a CycloneDX 1.6 VEX document: the affected components and one vulnerability entry per
advisory, with ratings, fixed versions and an analysis state (`not_affected` + justification for what an
ignore rule or OpenVEX statement suppressed; `exploitable` otherwise). Deterministic: no timestamp or
random serial number — the serial is derived from the content."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from honed.model import Finding, Severity
from honed.vuln.scan import ScanResult

_SEV = {Severity.CRITICAL: "critical", Severity.HIGH: "high", Severity.MEDIUM: "medium", Severity.LOW: "low",
        Severity.NEGLIGIBLE: "info", Severity.UNKNOWN: "unknown"}


def _source(vid: str) -> dict[str, str]:
    if vid.startswith("CVE-"):
        return {"name": "NVD", "url": f"https://nvd.nist.gov/vuln/detail/{vid}"}
    if vid.startswith("GHSA-"):
        return {"name": "GitHub", "url": f"https://github.com/advisories/{vid}"}
    return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{vid}"}


def to_dict(result: ScanResult, findings: tuple[Finding, ...], *, tool_version: str = "0") -> dict[str, Any]:
    comps: dict[str, dict[str, Any]] = {}
    for f in findings:
        p = result.packages.get(f.package_id)
        comps.setdefault(
            f.package_id,
            {"type": "library", "bom-ref": f.package_id, "name": f.package_name, "version": f.installed_version,
             **({"purl": p.purl} if p and p.purl else {})},
        )
    vulns: dict[str, dict[str, Any]] = {}
    for f in findings:
        a = f.advisory
        key = a.id
        v = vulns.get(key)
        if v is None:
            rating: dict[str, Any] = {"source": _source(a.id), "severity": _SEV[f.severity]}
            if a.cvss_score is not None and a.cvss_vector:
                rating["score"] = a.cvss_score
                rating["method"] = "CVSSv4" if a.cvss_vector.startswith("CVSS:4") else (
                    "CVSSv31" if a.cvss_vector.startswith("CVSS:3.1") else "CVSSv3")
                rating["vector"] = a.cvss_vector
            v = vulns[key] = {
                "bom-ref": f"vuln:{a.id}",
                "id": a.id,
                "source": _source(a.id),
                "references": [{"id": x, "source": _source(x)} for x in a.aliases],
                "ratings": [rating],
                "description": a.summary or a.id,
                "affects": [],
                "_states": [],
            }
            if a.kev:
                v["properties"] = [{"name": "honed:kev", "value": "true"}]
            if a.malicious:
                v.setdefault("properties", []).append({"name": "honed:category", "value": "malicious-package"})
        v["affects"].append({"ref": f.package_id, "versions": [{"version": f.installed_version, "status": "affected"}]})
        v["_states"].append(f)
    out_v = []
    for key in sorted(vulns):
        v = vulns[key]
        fs: list[Finding] = v.pop("_states")
        fixes = sorted({f.fixed_version for f in fs if f.fixed_version})
        if all(f.suppressed_by for f in fs):
            v["analysis"] = {"state": "not_affected", "justification": "protected_by_mitigating_control"
                             if any(f.suppressed_by.startswith("ignore") for f in fs) else "code_not_reachable",
                             "detail": "; ".join(sorted({f.suppressed_by for f in fs}))}
        else:
            v["analysis"] = {"state": "exploitable",
                             "response": ["update"] if fixes else ["can_not_fix"],
                             **({"detail": "fixed in " + ", ".join(fixes)} if fixes else {})}
        v["affects"].sort(key=lambda x: x["ref"])
        out_v.append(v)
    body = {"components": [comps[k] for k in sorted(comps)], "vulnerabilities": out_v}
    serial = uuid.UUID(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32])
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "honed", "version": tool_version}]},
            "properties": [{"name": "honed:db-digest", "value": result.db_digest},
                           {"name": "honed:image-digest", "value": result.image_digest or "none"}],
        },
        **body,
    }


def render(result: ScanResult, findings: tuple[Finding, ...], **kw: Any) -> str:
    return json.dumps(to_dict(result, findings, **kw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
