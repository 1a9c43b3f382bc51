"""Ignore files, OpenVEX suppression, the view filters and the gate — none of them may hide a finding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from honed.errors import UserError
from honed.model import Advisory, DpkgMeta, Ecosystem, Finding, Location, Package, Severity
from honed.vuln import policy

SSL = Package("libssl3", "3.0.11-1", Ecosystem.DEBIAN, "pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12",
              (Location("/var/lib/dpkg/status"),), meta=DpkgMeta("openssl", "3.0.11-1", "amd64"))
FLASK = Package("flask", "2.2.2", Ecosystem.PYPI, "pkg:pypi/flask@2.2.2", (Location("/app/flask"),))
PKGS = {SSL.id: SSL, FLASK.id: FLASK}


def F(id_: str, pkg: Package, sev: Severity, fixed: str | None = "9", aliases: tuple[str, ...] = ()) -> Finding:
    return Finding(Advisory(id_, aliases=aliases, severity=sev), pkg.id, pkg.name, pkg.version, fixed, pkg.ecosystem)


FINDINGS = (
    F("CVE-2024-0001", SSL, Severity.CRITICAL, aliases=("DSA-1",)),
    F("CVE-2024-0002", SSL, Severity.HIGH, fixed=None),
    F("CVE-2023-30861", FLASK, Severity.HIGH, aliases=("GHSA-m2qf-hxjv-5gpq",)),
    F("CVE-2024-0003", FLASK, Severity.LOW),
)
TODAY = dt.date(2026, 6, 1)


def _ignore(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "ignore.yaml"
    p.write_text(text)
    return p


def test_ignore_rules_by_alias_package_purl_and_expiry(tmp_path: Path) -> None:
    rules = policy.load_ignore_file(_ignore(tmp_path, """
ignore:
  - id: GHSA-m2qf-hxjv-5gpq        # an alias of the finding's id
    reason: not reachable, no sessions
  - id: CVE-2024-0001
    package: openssl                # the source package name works
    reason: mitigated
    expires: 2026-12-31
  - id: CVE-2024-0002
    purl: pkg:deb/debian/libssl3    # no version: any version
    reason: temporary
    expires: 2026-01-01             # expired: must stop suppressing and say so
  - id: CVE-2024-0003
    package: other-package
    reason: wrong package
"""))
    out, notices = policy.apply_ignores(FINDINGS, rules, PKGS, TODAY)
    sup = {f.advisory.id: f.suppressed_by for f in out}
    assert sup["CVE-2023-30861"].startswith("ignore-file: not reachable")
    assert sup["CVE-2024-0001"] == "ignore-file: mitigated"
    assert sup["CVE-2024-0002"] == "" and sup["CVE-2024-0003"] == ""
    assert len(out) == len(FINDINGS)  # nothing disappears
    assert len(notices) == 1 and "CVE-2024-0002" in notices[0] and "expired on 2026-01-01" in notices[0]


@pytest.mark.parametrize("text,msg", [("ignore: [{reason: x}]", "needs an 'id'"),
                                      ("ignore: [{id: X, expires: soon}]", "invalid expiry"),
                                      ("ignore: {id: X}", "expected a list"), ("ignore: [", "not valid YAML")])
def test_bad_ignore_files(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(UserError, match=msg):
        policy.load_ignore_file(_ignore(tmp_path, text))


def _vex(tmp_path: Path, statements: list[dict[str, object]]) -> Path:
    doc = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "t",
           "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": statements}
    p = tmp_path / "vex.json"
    p.write_text(json.dumps(doc))
    return p


def test_openvex_not_affected_suppresses_with_justification(tmp_path: Path, schemas: Path) -> None:
    stmts: list[dict[str, object]] = [
        {"vulnerability": {"name": "GHSA-m2qf-hxjv-5gpq"}, "products": [{"@id": "pkg:pypi/flask"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": "CVE-2024-0002"},
         "products": [{"@id": "sha256:abc", "subcomponents": [{"@id": "pkg:deb/debian/libssl3@3.0.11-1"}]}],
         "status": "not_affected", "justification": "inline_mitigations_already_exist"},
        {"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/debian/libssl3"}],
         "status": "affected", "action_statement": "upgrade"},
        # a later statement overrides an earlier one for the same finding
        {"vulnerability": {"name": "CVE-2024-0003"}, "products": [{"@id": "pkg:pypi/flask"}],
         "status": "not_affected", "justification": "component_not_present", "timestamp": "2026-01-02T00:00:00Z"},
        {"vulnerability": {"name": "CVE-2024-0003"}, "products": [{"@id": "pkg:pypi/flask"}],
         "status": "under_investigation", "timestamp": "2026-01-03T00:00:00Z"},
    ]
    path = _vex(tmp_path, stmts)
    import jsonschema

    jsonschema.validate(json.loads(path.read_text()),
                        json.loads((schemas / "openvex" / "openvex_json_schema.json").read_text()))
    out = policy.apply_vex(FINDINGS, policy.load_openvex(path), PKGS, {"sha256:abc"})
    sup = {f.advisory.id: f.suppressed_by for f in out}
    assert sup["CVE-2023-30861"] == "vex: not_affected (vulnerable_code_not_in_execute_path)"
    assert sup["CVE-2024-0002"] == "vex: not_affected (inline_mitigations_already_exist)"
    assert sup["CVE-2024-0001"] == "" and sup["CVE-2024-0003"] == ""
    # the image-scoped statement does not apply to another image
    other = policy.apply_vex(FINDINGS, policy.load_openvex(path), PKGS, {"sha256:other"})
    assert {f.advisory.id: f.suppressed_by for f in other}["CVE-2024-0002"] == ""


def test_bad_vex(tmp_path: Path) -> None:
    p = tmp_path / "v.json"
    p.write_text('{"statements": "no"}')
    with pytest.raises(UserError, match="not an OpenVEX"):
        policy.load_openvex(p)


def test_gate_is_pure_and_ignores_view_filters() -> None:
    v = policy.gate(FINDINGS, Severity.CRITICAL)
    assert not v.passed and v.exit_code == 1 and v.failing == ("CVE-2024-0001 libssl3",)
    assert policy.gate(FINDINGS, Severity.CRITICAL) == v  # same input, same verdict
    assert policy.gate(FINDINGS, None).passed
    assert not policy.gate(FINDINGS, Severity.HIGH).passed
    # suppressed findings do not fail the gate, but stay in the findings
    sup = tuple(f if f.advisory.id != "CVE-2024-0001" else Finding(**{**{s: getattr(f, s) for s in f.__slots__},
                                                                       "suppressed_by": "x"}) for f in FINDINGS)
    assert policy.gate(sup, Severity.CRITICAL).passed
    # --ignore-unfixed leaves the unfixed HIGH out of the gate and the view
    high_only_unfixed = (FINDINGS[1],)
    assert not policy.gate(high_only_unfixed, Severity.HIGH).passed
    assert policy.gate(high_only_unfixed, Severity.HIGH, ignore_unfixed=True).passed
    # the view: --severity hides LOW from display, suppressed stay out unless asked for
    assert [f.advisory.id for f in policy.shown(FINDINGS, Severity.HIGH)] == [
        "CVE-2024-0001", "CVE-2024-0002", "CVE-2023-30861"]
    assert len(policy.shown(sup, None)) == 3 and len(policy.shown(sup, None, include_suppressed=True)) == 4


def test_gate_does_not_fail_on_what_debian_rates_unimportant_but_the_report_keeps_it() -> None:
    # glibc's CVE-2019-1010022 carries NVD's 9.8 while Debian's tracker rates it unimportant: libc6 can never
    # go, so a gate failing on it would fail every build forever
    unimportant = Finding(Advisory("CVE-2019-1010022", severity=Severity.CRITICAL, urgency="unimportant"),
                          SSL.id, SSL.name, SSL.version, None, SSL.ecosystem)
    assert policy.gate((unimportant,), Severity.CRITICAL).passed
    assert policy.shown((unimportant,), Severity.CRITICAL) == (unimportant,)
    rated = Finding(Advisory("CVE-2019-1010022", severity=Severity.CRITICAL, urgency="low"),
                    SSL.id, SSL.name, SSL.version, None, SSL.ecosystem)
    assert not policy.gate((unimportant, rated), Severity.CRITICAL).passed
