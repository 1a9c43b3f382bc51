"""Scan reports: SARIF 2.1.0 (schema + GitHub code scanning's subset), CycloneDX 1.6 VEX (schema), the JSON
report (golden, deterministic), the table, and `honed scan --sbom` end to end in-process."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from honed.cli.main import main
from honed.vuln import policy
from honed.vuln.db import open_db
from honed.vuln.sbom import read_sbom
from honed.vuln.scan import ScanOptions, ScanResult, scan

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "scan"

CDX = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "components": [
        {"type": "operating-system", "name": "debian", "version": "12"},
        {"type": "library", "name": "libssl3", "version": "3.0.11-1~deb12u2",
         "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
         "properties": [{"name": "syft:location:0:path", "value": "/usr/share/doc/libssl3/copyright"}]},
        {"type": "library", "name": "libc6", "version": "2.36-9+deb12u4",
         "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"},
        {"type": "library", "name": "Werkzeug", "version": "2.2.2", "purl": "pkg:pypi/werkzeug@2.2.2",
         "properties": [{"name": "syft:location:0:path",
                         "value": "/usr/lib/python3/dist-packages/Werkzeug-2.2.2.dist-info/METADATA"}]},
        {"type": "library", "name": "ascii2text", "version": "1.0", "purl": "pkg:pypi/ascii2text@1.0"},
        {"type": "library", "name": "lodash", "version": "4.17.15", "purl": "pkg:npm/lodash@4.17.15"},
    ],
}


@pytest.fixture(scope="module")
def sbom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("sbom") / "small.cdx.json"
    p.write_text(json.dumps(CDX))
    return p


@pytest.fixture(scope="module")
def result(vulndb: Path, sbom: Path) -> ScanResult:
    with open_db(vulndb) as db:
        return scan(read_sbom(sbom), db, ScanOptions())


def _sarif_validator(schemas: Path) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads((schemas / "sarif" / "sarif-schema-2.1.0.json").read_text()))


def test_sarif_schema_and_github_subset(result: ScanResult, schemas: Path) -> None:
    from honed.report import sarif

    doc = sarif.to_dict(result, result.findings, tool_version="0.1.0")
    errors = list(_sarif_validator(schemas).iter_errors(doc))
    assert errors == []
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) == len({f.advisory.id for f in result.findings})  # a rule per advisory
    for r in rules:
        assert r["shortDescription"]["text"] and r["help"]["text"]
        assert len(r["properties"]["tags"]) <= 20
        if "security-severity" in r["properties"]:
            assert 0.0 <= float(r["properties"]["security-severity"]) <= 10.0
    assert len(run["results"]) == len(result.findings)
    fps = set()
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note", "none")
        loc = res["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/") and loc["region"]["startLine"] >= 1
        fps.add(res["partialFingerprints"]["honed/v1"])
    assert len(fps) == len(run["results"])  # stable and distinct
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert "var/lib/dpkg/status" in uris
    assert "usr/lib/python3/dist-packages/Werkzeug-2.2.2.dist-info/METADATA" in uris
    # same findings, same bytes
    assert sarif.render(result, result.findings) == sarif.render(result, result.findings)


def test_sarif_fingerprint_survives_an_upgrade_that_does_not_fix() -> None:
    from honed.model import Advisory, Ecosystem, Finding
    from honed.report.sarif import fingerprint

    a = Finding(Advisory("CVE-1"), "p@/x", "pkg", "1.0", None, Ecosystem.PYPI)
    b = Finding(Advisory("CVE-1"), "p2@/x", "pkg", "1.1", None, Ecosystem.PYPI)
    assert fingerprint(a, "/x") == fingerprint(b, "/x")
    assert fingerprint(a, "/x") != fingerprint(a, "/y")


def _cdx_validator(schemas: Path) -> jsonschema.Draft7Validator:
    d = schemas / "cyclonedx"
    reg: Registry = Registry()
    for name in ("spdx.schema.json", "jsf-0.82.schema.json", "bom-1.6.schema.json"):
        contents = json.loads((d / name).read_text())
        res = Resource.from_contents(contents, default_specification=DRAFT7)
        reg = reg.with_resource(name, res).with_resource(contents.get("$id", name), res)
    return jsonschema.Draft7Validator(json.loads((d / "bom-1.6.schema.json").read_text()), registry=reg)


def test_cyclonedx_vex_schema(result: ScanResult, schemas: Path, tmp_path: Path) -> None:
    from honed.vuln import cdx_vex

    ign = tmp_path / "i.yaml"
    ign.write_text("ignore:\n  - id: CVE-2021-23337\n    reason: test\n")
    fs, _ = policy.apply_ignores(result.findings, policy.load_ignore_file(ign), result.packages,
                                 __import__("datetime").date(2026, 1, 1))
    doc = cdx_vex.to_dict(result, fs)
    assert list(_cdx_validator(schemas).iter_errors(doc)) == []
    v = {x["id"]: x for x in doc["vulnerabilities"]}
    assert v["CVE-2021-23337"]["analysis"]["state"] == "not_affected"
    assert v["CVE-2023-25577"]["analysis"]["state"] == "exploitable"
    assert any(p["value"] == "malicious-package" for p in v["MAL-2022-7421"].get("properties", []))


def _redact(doc: dict) -> dict:  # type: ignore[type-arg]
    doc["database"] = {"digest": "<db>", "built_at": "<built>"}
    doc["tool"]["version"] = "<v>"
    return doc


def test_scan_json_golden(result: ScanResult) -> None:
    from honed.report import scan_json

    text = scan_json.render(result, verdict=policy.gate(result.findings, None))
    assert text == scan_json.render(result, verdict=policy.gate(result.findings, None))  # deterministic
    doc = _redact(json.loads(text))
    golden = GOLDEN / "sbom-small.json"
    if os.environ.get("HONED_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert doc == json.loads(golden.read_text())
    assert doc["summary"]["malicious"] == 1 and doc["distro"]["version_id"] == "12"


def test_table_groups_by_severity(result: ScanResult) -> None:
    from honed.report import table

    text = table.render(result)
    heads = re.findall(r"^([A-Z ]+) \(\d+\)$", text, re.M)
    assert heads[0] == "MALICIOUS PACKAGES"
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"]
    assert [h for h in heads[1:]] == [s for s in order if s in heads]
    assert "PACKAGE" in text and "(not fixed)" in text and "[unimportant]" in text


def test_cli_scan_sbom_formats_and_gate(vulndb: Path, sbom: Path, tmp_path: Path, schemas: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    base = ["scan", "--sbom", str(sbom), "--db", str(vulndb)]
    assert main(base) == 0
    full = capsys.readouterr().out
    # --severity filters the view only; --fail-on decides the exit code and never hides findings
    out = tmp_path / "r.json"
    assert main([*base, "-f", "json", "-o", str(out), "--severity", "critical", "--fail-on", "high"]) == 1
    doc = json.loads(out.read_text())
    assert {f["severity"] for f in doc["findings"]} == {"CRITICAL"}
    assert doc["summary"]["total"] > len(doc["findings"]) and doc["gate"]["passed"] is False
    assert doc["database"]["digest"].startswith("sha256:")
    assert main([*base, "--fail-on", "critical", "--ignore-unfixed", "-f", "json", "-o", str(out)]) == 1  # MAL
    # ignoring the only critical fixable... and the gate passes at critical only when nothing critical remains
    ign = tmp_path / "ign.yaml"
    ign.write_text("ignore:\n  - id: MAL-2022-7421\n    reason: test\n  - id: CVE-2019-1010022\n    reason: t\n"
                   "  - id: CVE-2023-45853\n    reason: t\n  - id: CVE-2021-4104\n    reason: t\n")
    rc = main([*base, "--fail-on", "critical", "--ignore-unfixed", "--ignore-file", str(ign), "-f", "json", "-o",
               str(out)])
    doc = json.loads(out.read_text())
    crit_left = [f for f in doc["findings"] if f["severity"] == "CRITICAL" and not f["suppressed"]
                 and f["fixed_version"]]
    assert (rc == 0) == (not crit_left)
    assert any(f["suppressed"] for f in doc["findings"])  # suppressed findings stay in the report
    sar = tmp_path / "r.sarif"
    assert main([*base, "-f", "sarif", "-o", str(sar)]) == 0
    assert list(_sarif_validator(schemas).iter_errors(json.loads(sar.read_text()))) == []
    assert main([*base, "-f", "cyclonedx-vex", "-o", str(tmp_path / "v.json")]) == 0
    assert "MALICIOUS PACKAGES" in full
    # bad input: both or neither of IMAGE/--sbom, and an SBOM that is neither format
    assert main(["scan", "--db", str(vulndb)]) == 3
    junk = tmp_path / "x.json"
    junk.write_text("{}")
    assert main(["scan", "--sbom", str(junk), "--db", str(vulndb)]) == 3
    assert main([*base, "--distro", "debian:42"]) == 3
    assert "it covers Debian" in capsys.readouterr().err


def test_spdx_sbom_gives_same_findings(result: ScanResult, vulndb: Path, tmp_path: Path) -> None:
    pk: list[dict[str, object]] = []
    for c in CDX["components"]:  # type: ignore[attr-defined]
        if c.get("purl"):
            pk.append({"SPDXID": f"SPDXRef-{len(pk)}", "name": c["name"], "versionInfo": c["version"],
                       "downloadLocation": "NOASSERTION",
                       "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                         "referenceLocator": c["purl"]}]})
    doc = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "x", "dataLicense": "CC0-1.0",
           "documentNamespace": "https://example.com/x", "creationInfo": {"created": "2026-01-01T00:00:00Z",
                                                                          "creators": ["Tool: t"]},
           "packages": pk}
    p = tmp_path / "s.spdx.json"
    p.write_text(json.dumps(doc))
    with open_db(vulndb) as db:
        r2 = scan(read_sbom(p), db)
    assert {(f.package_name, f.advisory.id) for f in r2.findings} == {
        (f.package_name, f.advisory.id) for f in result.findings}
