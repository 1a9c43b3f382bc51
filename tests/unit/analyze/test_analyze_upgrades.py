"""Upgrade targets, presets by CVE, and the repository check against a local HTTP mirror.

The network is faked here (a local http.server serving a Packages.xz), and only the network."""

from __future__ import annotations

import http.server
import lzma
import threading
from pathlib import Path

import realdeb

from honed.analyze import AnalyzeOptions, analysis_to_json, analyze
from honed.analyze.policy import Policy
from honed.analyze.repository import check_upgrades
from honed.image.rootfs import DirRootFS
from honed.model import Advisory, Ecosystem, Finding, Severity


def finding(pkgs, name, cve, sev, fixed):  # type: ignore[no-untyped-def]
    p = next(p for p in pkgs if p.name == name)
    return Finding(Advisory(cve, severity=sev), p.id, p.name, p.version, fixed, Ecosystem.DEBIAN)


def run(deb, findings, policy):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    u = realdeb.Usage({"/usr/lib/x86_64-linux-gnu/libssl.so.3": ["map"]}, runs=[{"drivers": [{"command": "t"}]}])
    a = analyze(pkgs, findings, u, AnalyzeOptions(rootfs=DirRootFS(root), policy=policy))
    return a, {d.package.name: d for d in a.removed}, {d.package.name: d for d in a.kept}


def test_presets_choose_by_severity(deb):  # type: ignore[no-untyped-def]
    _, pkgs = deb
    fs = [finding(pkgs, "curl", "CVE-1", Severity.MEDIUM, "8"), finding(pkgs, "perl-base", "CVE-2", Severity.CRITICAL, None)]
    _, rem, kept = run(deb, fs, Policy(preset="aggressive"))
    assert {"curl", "perl-base", "gzip"} <= set(rem)
    _, rem, kept = run(deb, fs, Policy(preset="standard"))
    assert {"curl", "perl-base"} <= set(rem) and "gzip" in kept and kept["gzip"].reasons[0].kind == "preset"
    assert rem["curl"].rule.startswith("standard")
    _, rem, kept = run(deb, fs, Policy(preset="light"))
    assert "perl-base" in rem and "curl" in kept and "gzip" in kept
    assert "HIGH or CRITICAL" in kept["curl"].reasons[0].detail


def test_upgrade_targets_for_used_packages_with_cves(deb):  # type: ignore[no-untyped-def]
    _, pkgs = deb
    fs = [finding(pkgs, "libssl3", "CVE-2024-0001", Severity.HIGH, "3.0.15-1~deb12u1"),
          finding(pkgs, "libssl3", "CVE-2024-0002", Severity.LOW, "3.0.14-1~deb12u2"),
          finding(pkgs, "libssl3", "CVE-2024-0003", Severity.LOW, None)]
    a, rem, kept = run(deb, fs, Policy())
    (u,) = a.upgrades
    assert u.name == "libssl3" and u.used and u.fixed_version == "3.0.15-1~deb12u1"  # dpkg order, not text
    assert u.in_repository is None
    doc = analysis_to_json(a)
    assert doc["upgrade_targets"][0]["cves"][0]["id"] == "CVE-2024-0001"
    assert doc["summary"]["upgrade_targets"] == 1


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):  # type: ignore[no-untyped-def]
        pass


def test_repository_check_over_http(deb, tmp_path: Path):  # type: ignore[no-untyped-def]
    _, pkgs = deb
    d = tmp_path / "mirror/dists/bookworm-security/main/binary-amd64"
    d.mkdir(parents=True)
    (d / "Packages.xz").write_bytes(lzma.compress(
        b"Package: libssl3\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\n\n"
        b"Package: libexpat1\nVersion: 2.5.0-1\n\n"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(tmp_path / "mirror")))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        fs = [finding(pkgs, "libssl3", "CVE-A", Severity.HIGH, "3.0.15-1~deb12u1")]
        a, _, _ = run(deb, fs, Policy())
        a = type(a)(**{**{f: getattr(a, f) for f in a.__dataclass_fields__}, "distro": {"id": "debian", "codename": "bookworm"}})
        got = check_upgrades(a, mirror=url, security_mirror=url, cache_dir=tmp_path / "cache")
        (u,) = got.upgrades
        assert u.in_repository is True and u.repository_version == "3.0.15-1~deb12u1"
        fs = [finding(pkgs, "libssl3", "CVE-B", Severity.HIGH, "3.0.16-1")]
        a2, _, _ = run(deb, fs, Policy())
        a2 = type(a2)(**{**{f: getattr(a2, f) for f in a2.__dataclass_fields__}, "distro": {"id": "debian", "codename": "bookworm"}})
        (u,) = check_upgrades(a2, mirror=url, security_mirror=url, cache_dir=tmp_path / "cache").upgrades
        assert u.in_repository is False
    finally:
        srv.shutdown()
        srv.server_close()
    # unreachable: unknown, not an error
    (u,) = check_upgrades(a2, mirror="http://127.0.0.1:9", security_mirror="http://127.0.0.1:9",
                          cache_dir=tmp_path / "cache2").upgrades
    assert u.in_repository is None
