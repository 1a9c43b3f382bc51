"""report.html: self-contained, escaped, deterministic, and shows what a reviewer needs."""

from __future__ import annotations

from html.parser import HTMLParser

from honed.report.html import write_html

SUMMARY = {
    "schema": "honed.summary/v1",
    "tool": {"name": "honed", "version": "0.1.0"},
    "database": {"digest": "sha256:" + "0" * 64},
    "input_image": {"ref": "oci:/img:<flask>", "digest": "sha256:" + "1" * 64},
    "hardened_image": {"ref": "oci:/img:flask-hardened", "digest": "sha256:" + "2" * 64},
    "vulnerabilities": {
        "before": {"CRITICAL": 2, "HIGH": 5, "LOW": 10},
        "after": {"HIGH": 1, "LOW": 3},
        "removed": {"CRITICAL": 2, "HIGH": 4, "LOW": 7},
        "before_total": 17, "after_total": 4,
    },
    "packages": {"before": 120, "after": 30, "removed": 90},
    "bytes": {"before": 450_000_000, "after": 150_000_000},
    "removed_packages": [
        {"name": "perl-base", "version": "5.36.0-7", "purl": "pkg:deb/debian/perl-base@5.36.0-7", "bytes": 7_000_000,
         "files": 900, "vulnerabilities": [{"id": "CVE-2023-31484", "severity": "HIGH"}],
         "evidence": "no file opened in 1 run of: pytest <script>alert(1)</script>", "rule": "aggressive"},
    ],
    "restored_packages": [{"name": "libssl3", "round": 1, "reason": "missing shared library libssl.so.3"}],
    "repair_rounds": [{"round": 1, "failed": ["pytest /app/tests"], "evidence": ["library libssl.so.3"],
                       "restored": ["libssl3"]}],
    "tests": [
        {"phase": "original", "drivers": [{"kind": "test", "command": "pytest /app/tests", "ok": True,
                                            "exit_code": 0, "seconds": 1.0, "output_tail": "3 passed"}]},
        {"phase": "hardened (round 1)", "drivers": [{"kind": "test", "command": "pytest /app/tests", "ok": False,
                                                      "exit_code": 1, "seconds": 1.0,
                                                      "output_tail": "ImportError: libssl.so.3 & <b>"}]},
    ],
    "verification": {"ok": True, "rounds": 1},
    "gate": {"fail_on": "CRITICAL", "passed": True, "blocking": 0},
    "signing": {"keyid": "sha256:abc", "ephemeral": True},
}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def test_page_content_escaped_and_self_contained() -> None:
    page = write_html(SUMMARY).decode()
    p = _Collect()
    p.feed(page)
    text = " ".join(p.text)
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
    assert not any(v and ("http://" in v or "https://" in v) for k, v in p.attrs if k in ("src", "href"))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "oci:/img:&lt;flask&gt;" in page
    for needle in ("perl-base", "CVE-2023-31484", "libssl3", "pytest /app/tests", "17 → 4", "450.0 MB → 150.0 MB",
                   "120 → 30", "ephemeral", "Hardened image verified"):
        assert needle in text, needle


def test_verdicts() -> None:
    failed = dict(SUMMARY, verification={"ok": False})
    assert "Verification failed" in write_html(failed).decode()
    gate = dict(SUMMARY, gate={"fail_on": "HIGH", "passed": False, "blocking": 1})
    page = write_html(gate).decode()
    assert "Gate failed" in page and "CVE-2023-31484" in page  # the gate never filters the report


def test_deterministic() -> None:
    assert write_html(SUMMARY) == write_html(dict(SUMMARY))


def test_removed_packages_worst_first_common_evidence_once_flags_visible() -> None:
    ev = "no file of this package was opened in 1 run of: pytest"
    pkgs = [
        {"name": "aaa-clean", "vulnerabilities": [], "evidence": ev, "rule": "aggressive"},
        {"name": "dpkg", "vulnerabilities": [{"id": "CVE-9", "severity": "LOW"}], "evidence": ev,
         "rule": "aggressive", "flags": ["package-manager"]},
        {"name": "zzz-critical", "vulnerabilities": [{"id": "CVE-2", "severity": "LOW"},
                                                     {"id": "CVE-1", "severity": "CRITICAL"}],
         "evidence": ev, "rule": "aggressive"},
    ]
    page = write_html(dict(SUMMARY, removed_packages=pkgs)).decode()
    body = page[page.index("Removed packages"):]
    table = body[body.index("<table>"):]
    assert table.index("zzz-critical") < table.index("<b>dpkg</b>") < table.index("aaa-clean")
    assert body.count(ev) == 1  # said once above the table
    assert "Worth a look" in body and "package-manager" in body
    row = body[body.index("zzz-critical"):]
    assert row.index("CVE-1") < row.index("CVE-2")  # worst first within a row


def test_round_without_repair_says_why() -> None:
    failed = dict(SUMMARY, verification={"ok": False, "repairs": 0}, restored_packages=[],
                  repair_rounds=[{"round": 0, "failed": ["node /app/server.js"], "evidence": ["libcrypto.so.3"],
                                  "restored": [], "suggested": ["libssl3"]}])
    page = write_html(failed).decode()
    assert "evidence points at libssl3; not put back" in page
    nothing = dict(failed, repair_rounds=[{"round": 0, "failed": ["x"], "evidence": [], "restored": []}])
    assert "no evidence links the failure" in write_html(nothing).decode()
