"""Findings on the real fixture images equal an independent computation that reads the raw OSV files
with none of the matcher's code (its own version comparisons: python-debian, packaging, a small semver).

The independent side applies the same documented rules as the matcher (notes/vuln.md): withdrawn records
skipped; an id found in two files → the copy with the newest `modified`; GIT ranges ignored; Debian
matched by source package + source version under `Debian:<VERSION_ID>`; DSA/DLA/DTSA records only as
aliases of per-CVE findings; distro `versions` lists ignored where an ECOSYSTEM range exists.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from debian.debian_support import version_compare
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from honed.model import DpkgMeta, Ecosystem
from honed.vuln.db import open_db
from honed.vuln.match import match_raw
from honed.vuln.scan import scan

pytestmark = pytest.mark.slow


def _semver(v: str) -> tuple[Any, ...]:
    core, _, pre = v.lstrip("v").split("+")[0].partition("-")
    nums = [int(x) for x in (core.split(".") + ["0", "0"])[:3]]
    if not pre:
        return (nums, 1, [])
    return (nums, 0, [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")])


def _cmp_for(eco: str):  # type: ignore[no-untyped-def]
    if eco.startswith("Debian"):
        return lambda a, b: version_compare(a, b)
    if eco == "PyPI":
        return lambda a, b: (Version(a) > Version(b)) - (Version(a) < Version(b))
    return lambda a, b: (_semver(a) > _semver(b)) - (_semver(a) < _semver(b))


def _affected(entry: dict[str, Any], eco: str, version: str) -> bool:
    ranges = [r for r in entry.get("ranges") or () if r.get("type") in ("ECOSYSTEM", "SEMVER")]
    versions = entry.get("versions") or []
    if eco.startswith("Debian") and any(r["type"] == "ECOSYSTEM" for r in ranges):
        versions = []
    if version in versions:
        return True
    for r in ranges:
        cmp = _cmp_for(eco) if r["type"] == "ECOSYSTEM" else (
            lambda a, b: (_semver(a) > _semver(b)) - (_semver(a) < _semver(b)))
        lo = None
        try:
            for ev in r["events"]:
                if "introduced" in ev:
                    lo = ev["introduced"]
                elif "fixed" in ev or "last_affected" in ev:
                    if lo is not None and (lo == "0" or cmp(version, lo) >= 0):
                        if "fixed" in ev and cmp(version, ev["fixed"]) < 0:
                            return True
                        if "last_affected" in ev and cmp(version, ev["last_affected"]) <= 0:
                            return True
                    lo = None
            if lo is not None and (lo == "0" or cmp(version, lo) >= 0):
                return True
        except (InvalidVersion, ValueError, IndexError):
            continue
    return False


def independent(vulndata: Path, wanted: dict[tuple[str, str], list[tuple[str, str]]]) -> set[tuple[str, str]]:
    """wanted: (ecosystem, name) -> [(package_id, version)]. Returns {(package_id, record id)}."""
    recs: dict[str, dict[str, Any]] = {}
    names = {n for _, n in wanted}
    for f in sorted(vulndata.glob("*.osv.jsonl.gz")):
        for line in gzip.open(f, "rt"):
            r = json.loads(line)
            if not any(
                (a.get("package") or {}).get("name") in names
                or canonicalize_name((a.get("package") or {}).get("name") or "-") in names
                for a in r.get("affected") or ()
            ):
                continue
            old = recs.get(r["id"])
            if old is None or old.get("modified", "") < r.get("modified", ""):
                recs[r["id"]] = r
    out = set()
    for rid, r in recs.items():
        if r.get("withdrawn") or re.match(r"^(DSA|DLA|DTSA)-", rid):
            continue
        for a in r.get("affected") or ():
            pkg = a.get("package") or {}
            eco, name = pkg.get("ecosystem"), pkg.get("name")
            if not eco or not name:
                continue
            key = (eco, canonicalize_name(name) if eco == "PyPI" else name)
            for pid, version in wanted.get(key, ()):
                if _affected(a, eco, version):
                    out.add((pid, rid))
    return out


def _wanted(packages: Any, release: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    w: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for p in packages:
        if p.ecosystem == Ecosystem.DEBIAN and isinstance(p.meta, DpkgMeta):
            w.setdefault((f"Debian:{release}", p.meta.source), []).append((p.id, p.meta.source_version))
        elif p.ecosystem == Ecosystem.PYPI:
            w.setdefault(("PyPI", canonicalize_name(p.name)), []).append((p.id, p.version))
        elif p.ecosystem == Ecosystem.NPM:
            w.setdefault(("npm", p.name), []).append((p.id, p.version))
    return w


@pytest.mark.parametrize("fixture", ["flask_image", "node_image"])
def test_findings_equal_independent_computation(fixture: str, request: pytest.FixtureRequest, vulndb: Path,
                                                vulndata: Path) -> None:
    image = request.getfixturevalue(fixture)
    with open_db(vulndb) as db:
        result = scan(image.ref, db)
        raw = match_raw(result.catalog.packages, result.distro, db)
    assert result.distro is not None and result.distro.version_id == "12"
    assert result.image_digest.startswith("sha256:") and result.db_digest.startswith("sha256:")
    pkgs = [p for p in result.catalog.packages if p.ecosystem in (Ecosystem.DEBIAN, Ecosystem.PYPI, Ecosystem.NPM)]
    want = independent(vulndata, _wanted(pkgs, "12"))
    got = {(m.package_id, m.advisory) for m in raw if not re.match(r"^(DSA|DLA|DTSA)-", m.advisory)}
    got = {g for g in got if any(g[0] == p.id for p in pkgs)}
    assert want, "the fixture should have known vulnerabilities"
    assert sorted(want - got) == [], "missed"
    assert sorted(got - want) == [], "extra"
    # and the merged findings account for every raw record, each package/record once
    merged = {(f.package_id, i) for f in result.findings for i in (f.advisory.id, *f.advisory.aliases)}
    assert want <= merged
    assert any(p.ecosystem != Ecosystem.DEBIAN for p in pkgs), "the app's language packages were cataloged"
    assert any(p.ecosystem != Ecosystem.DEBIAN for p in pkgs if any(f.package_id == p.id for f in result.findings))


def test_sbom_round_trip_gives_the_image_findings(flask_image: Any, vulndb: Path, tmp_path: Path) -> None:
    """`honed scan --sbom` of our own CycloneDX and SPDX output finds exactly what scanning the image finds."""
    from honed.catalog import catalog_image
    from honed.report import cyclonedx, spdx
    from honed.vuln.sbom import read_sbom

    cat = catalog_image(flask_image.ref)
    (tmp_path / "s.cdx.json").write_text(cyclonedx.dumps(cat))
    (tmp_path / "s.spdx.json").write_text(spdx.dumps(cat))
    with open_db(vulndb) as db:
        want = {(f.package_name, f.installed_version, f.advisory.id, f.fixed_version) for f in scan(cat, db).findings}
        for name in ("s.cdx.json", "s.spdx.json"):
            got = {(f.package_name, f.installed_version, f.advisory.id, f.fixed_version)
                   for f in scan(read_sbom(tmp_path / name), db).findings}
            assert got == want, name
    assert want


def test_cli_scan_image(flask_image: Any, vulndb: Path, tmp_path: Path, schemas: Path) -> None:
    """`honed scan IMAGE` end to end: digests in the JSON, SARIF valid, the gate's exit code, VEX applied."""
    from honed.cli.main import main

    base = ["scan", flask_image.ref, "--db", str(vulndb)]
    out = tmp_path / "scan.json"
    assert main([*base, "-f", "json", "-o", str(out), "--fail-on", "critical"]) == 1
    doc = json.loads(out.read_text())
    assert doc["image"]["digest"] == flask_image.info.get("manifest_digest", doc["image"]["digest"])
    assert doc["image"]["digest"].startswith("sha256:") and doc["database"]["digest"].startswith("sha256:")
    crit = sorted({(f["id"], f["package"]["purl"]) for f in doc["findings"] if f["severity"] == "CRITICAL"})
    assert crit
    # an OpenVEX not_affected statement for every critical finding: the gate passes, the findings stay
    vex = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/v", "author": "t",
           "timestamp": "2026-01-01T00:00:00Z", "version": 1,
           "statements": [{"vulnerability": {"name": i}, "products": [{"@id": p.split("?")[0]}],
                           "status": "not_affected", "justification": "vulnerable_code_not_present"}
                          for i, p in crit]}
    vf = tmp_path / "v.json"
    vf.write_text(json.dumps(vex))
    assert main([*base, "-f", "json", "-o", str(out), "--fail-on", "critical", "--vex", str(vf)]) == 0
    doc2 = json.loads(out.read_text())
    assert len(doc2["findings"]) == len(doc["findings"])
    assert {f["suppressed_by"] for f in doc2["findings"] if f["severity"] == "CRITICAL"} == {
        "vex: not_affected (vulnerable_code_not_present)"}
    sar = tmp_path / "s.sarif"
    assert main([*base, "-f", "sarif", "-o", str(sar)]) == 0
    import jsonschema

    schema = json.loads((schemas / "sarif" / "sarif-schema-2.1.0.json").read_text())
    assert list(jsonschema.Draft4Validator(schema).iter_errors(json.loads(sar.read_text()))) == []
