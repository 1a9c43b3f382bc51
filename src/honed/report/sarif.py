"""The scan as SARIF 2.1.0, kept inside what GitHub code scanning accepts.

* one rule per advisory (id = the advisory id), with `security-severity` (the CVSS score, or the middle of
  the severity's band when there is no score) so GitHub ranks it, and `help` text;
* one result per (advisory, package), located at the package's record in the image — the dpkg status
  file for Debian packages, the `.dist-info`/`package.json` for language packages — as a relative URI
  with a `region.startLine`;
* `partialFingerprints["honed/v1"]` hashes (advisory, ecosystem, package name, location) but *not* the
  installed version, so an alert survives an upgrade that does not fix it and closes when it is fixed;
* suppressed findings stay, with a SARIF `suppressions` entry carrying the reason.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from honed.model import DpkgMeta, Finding, NpmMeta, Package, PythonMeta, Severity
from honed.vuln.scan import ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_BAND = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "2.0",
         Severity.NEGLIGIBLE: "0.5"}
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
          Severity.NEGLIGIBLE: "note", Severity.UNKNOWN: "warning"}


def package_location(pkg: Package | None) -> str:
    """The image path that records the package (what a reviewer opens to see it is installed)."""
    if pkg is None:
        return "unknown"
    m = pkg.meta
    if isinstance(m, DpkgMeta):
        return m.status_path or "/var/lib/dpkg/status"
    if isinstance(m, PythonMeta) and m.dist_dir:
        return m.dist_dir.rstrip("/") + "/METADATA" if m.dist_dir.endswith(".dist-info") else m.dist_dir
    if isinstance(m, NpmMeta) and m.package_dir:
        return m.package_dir.rstrip("/") + "/package.json"
    if pkg.locations:
        return pkg.locations[0].path
    return "unknown"


def _uri(path: str) -> str:
    return path.lstrip("/") or "."


def fingerprint(f: Finding, location: str) -> str:
    eco = f.ecosystem.value if f.ecosystem else ""
    return hashlib.sha256(f"{f.advisory.id}|{eco}|{f.package_name}|{location}".encode()).hexdigest()[:32]


def _rule(f: Finding) -> dict[str, Any]:
    a = f.advisory
    title = a.summary or a.id
    props: dict[str, Any] = {
        "tags": ["security", "vulnerability", *(["malicious-package"] if a.malicious else []),
                 *(["known-exploited"] if a.kev else []), f.severity.value.lower()],
        "precision": "very-high",
        "problem.severity": "error" if f.severity.rank >= Severity.HIGH.rank else "warning",
    }
    sec = f"{a.cvss_score:.1f}" if a.cvss_score is not None else _BAND.get(f.severity)
    if sec is not None:
        props["security-severity"] = sec
    help_lines = [f"{a.id}: {title}"]
    if a.aliases:
        help_lines.append("Also known as: " + ", ".join(a.aliases))
    if a.cvss_vector:
        help_lines.append(f"CVSS: {a.cvss_vector} ({a.cvss_score})")
    help_lines += [f"- {r}" for r in a.references[:5]]
    rule: dict[str, Any] = {
        "id": a.id,
        "name": a.id.replace("-", ""),
        "shortDescription": {"text": f"{a.id}: {title}"[:1000]},
        "fullDescription": {"text": title[:1000]},
        "help": {"text": "\n".join(help_lines), "markdown": "\n\n".join(help_lines)},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": props,
    }
    if a.references:
        rule["helpUri"] = a.references[0]
    return rule


def to_dict(result: ScanResult, findings: tuple[Finding, ...], *, tool_version: str = "0") -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    for f in findings:
        rules.setdefault(f.advisory.id, _rule(f))
    rule_ids = sorted(rules)
    index = {r: i for i, r in enumerate(rule_ids)}
    results = []
    for f in findings:
        pkg = result.packages.get(f.package_id)
        loc = package_location(pkg)
        fixed = f"fixed in {f.fixed_version}" if f.fixed_version else "no fix available"
        res: dict[str, Any] = {
            "ruleId": f.advisory.id,
            "ruleIndex": index[f.advisory.id],
            "level": _LEVEL[f.severity],
            "message": {
                "text": f"{f.package_name} {f.installed_version} is affected by {f.advisory.id} "
                f"({f.severity.value.lower()}; {fixed})."
                + (f" {f.advisory.summary}" if f.advisory.summary else "")
            },
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(loc)},
                        "region": {"startLine": 1},
                    },
                    "message": {"text": f"{pkg.purl if pkg else f.package_id}"},
                }
            ],
            "partialFingerprints": {"honed/v1": fingerprint(f, loc)},
            "properties": {
                "package": f.package_name,
                "installedVersion": f.installed_version,
                "fixedVersion": f.fixed_version,
                "purl": pkg.purl if pkg else "",
            },
        }
        if f.suppressed_by:
            res["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.suppressed_by}]
        results.append(res)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "honed",
                "version": tool_version,
                "semanticVersion": tool_version,
                "informationUri": "https://github.com/honed/honed",
                "rules": [rules[r] for r in rule_ids],
            }
        },
        "results": results,
        "columnKind": "utf16CodeUnits",
        "properties": {"imageRef": result.image_ref, "imageDigest": result.image_digest,
                       "dbDigest": result.db_digest},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(result: ScanResult, findings: tuple[Finding, ...], **kw: Any) -> str:
    return json.dumps(to_dict(result, findings, **kw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
