"""Before/after delta by severity and the gate verdict."""

from __future__ import annotations

import pytest

from honed.errors import UserError
from honed.model import Advisory, Finding, Severity
from honed.verify.delta import delta, parse_fail_on


def _f(vid: str, pkg: str, sev: Severity, suppressed: str = "") -> Finding:
    return Finding(Advisory(vid, severity=sev), f"pkg:deb/debian/{pkg}@1@/var/lib/dpkg/status", pkg, "1",
                   suppressed_by=suppressed)


BEFORE = [
    _f("CVE-1", "libssl3", Severity.CRITICAL), _f("CVE-1", "openssl", Severity.CRITICAL),
    _f("CVE-2", "perl-base", Severity.HIGH), _f("CVE-2", "perl-base", Severity.HIGH),  # duplicate location
    _f("CVE-3", "zlib1g", Severity.LOW), _f("CVE-4", "tar", Severity.UNKNOWN),
]
AFTER = [_f("CVE-1", "libssl3", Severity.CRITICAL), _f("CVE-3", "zlib1g", Severity.LOW)]


def test_delta_counts() -> None:
    d = delta(BEFORE, AFTER)
    assert d.before_total == 5 and d.after_total == 2 and d.removed_total == 3
    assert d.before["CRITICAL"] == 2 and d.after["CRITICAL"] == 1 and d.removed["CRITICAL"] == 1
    assert d.removed["HIGH"] == 1 and d.removed["UNKNOWN"] == 1 and d.removed["LOW"] == 0
    assert {(f.advisory.id, f.package_name) for f in d.removed_findings} == {
        ("CVE-1", "openssl"), ("CVE-2", "perl-base"), ("CVE-4", "tar")}
    assert (d.vulnerabilities_before, d.vulnerabilities_after) == (4, 2)
    before = d.as_dict()["before"]
    assert isinstance(before, dict) and list(before) == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"]


def test_parse_fail_on() -> None:
    assert parse_fail_on("critical") is Severity.CRITICAL
    assert parse_fail_on("Moderate") is Severity.MEDIUM
    assert parse_fail_on(None) is None
    with pytest.raises(UserError):
        parse_fail_on("severe")
