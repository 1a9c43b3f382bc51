"""Matching constructed packages (and this machine's real dpkg status) against the real shared vulndata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from honed.model import DpkgMeta, Ecosystem, Location, Package, Severity
from honed.vuln.db import Database, open_db
from honed.vuln.match import UnknownDistroError, match, match_raw


@pytest.fixture(scope="module")
def db(vulndb: Path) -> Iterator[Database]:
    d = open_db(vulndb)
    yield d
    d.close()


def deb(name: str, version: str, source: str = "", source_version: str = "") -> Package:
    return Package(name, version, Ecosystem.DEBIAN, f"pkg:deb/debian/{name}@{version}?arch=amd64",
                   (Location("/var/lib/dpkg/status"),),
                   meta=DpkgMeta(source or name, source_version or version, "amd64"))


def lang(eco: Ecosystem, name: str, version: str, purl: str) -> Package:
    return Package(name, version, eco, purl, (Location(f"/app/{name}"),))


def by(findings, pkg: str):  # type: ignore[no-untyped-def]
    return {f.advisory.id: f for f in findings if f.package_name == pkg}


def test_debian_uses_source_package_and_release(db: Database) -> None:
    libssl = deb("libssl3", "3.0.11-1~deb12u2", "openssl")
    fs = by(match([libssl], "debian:12", db), "libssl3")
    assert fs["CVE-2024-5535"].fixed_version == "3.0.15-1~deb12u1"  # Debian:12's fix, not Debian:11's
    assert fs["CVE-2024-13176"].fixed_version is None  # open in bookworm: affected, "not fixed"
    # the DSA naming the CVE is merged into it, not reported on its own
    assert "DSA-5764-1" in fs["CVE-2024-6119"].advisory.aliases
    assert not any(i.startswith(("DSA-", "DLA-")) for i in fs)
    # the binary name alone would match nothing: Debian tracks source packages
    assert match([deb("libssl3", "3.0.11-1~deb12u2")], "debian:12", db) == ()
    # a version at the fix is not affected by that CVE
    fixed = by(match([deb("libssl3", "3.0.15-1~deb12u1", "openssl")], "debian:12", db), "libssl3")
    assert "CVE-2024-5535" not in fixed and "CVE-2024-13176" in fixed


def test_debian_unimportant_is_kept_and_flagged(db: Database) -> None:
    fs = by(match([deb("libc6", "2.36-9+deb12u14", "glibc")], "debian:12", db), "libc6")
    f = fs["CVE-2019-1010022"]
    assert f.advisory.urgency == "unimportant" and f.fixed_version is None
    assert f.severity == Severity.CRITICAL  # the CVSS vector on the record decides, not the urgency


def test_binnmu_source_version(db: Database) -> None:
    # a binNMU (+b1) binary version differs from its source version; matching uses the source version
    a = match([deb("libfoo", "3.0.11-1~deb12u2+b1", "openssl", "3.0.11-1~deb12u2")], "debian:12", db)
    b = match([deb("libssl3", "3.0.11-1~deb12u2", "openssl")], "debian:12", db)
    assert {f.advisory.id for f in a} == {f.advisory.id for f in b}


def test_unknown_release_names_covered_ones(db: Database) -> None:
    with pytest.raises(UnknownDistroError) as e:
        match([deb("libssl3", "3.0.11-1", "openssl")], "debian:99", db)
    msg = e.value.render()
    assert "99" in msg and "12" in msg and "13" in msg
    # a codename-only os-release (testing) resolves through the codename
    assert match([deb("libssl3", "3.0.11-1", "openssl")], {"id": "debian", "codename": "bookworm"}, db)


def test_pypi_aliases_merge_into_one_finding(db: Database) -> None:
    wz = lang(Ecosystem.PYPI, "Werkzeug", "2.2.2", "pkg:pypi/werkzeug@2.2.2")
    raw = match_raw([wz], None, db)
    fs = match([wz], None, db)
    f = by(fs, "Werkzeug")["CVE-2023-25577"]  # GHSA (osv.dev dump) + PYSEC (PyPA) + CVE: one finding
    assert {"GHSA-xg9f-g7g7-2323", "PYSEC-2023-58"} <= set(f.advisory.aliases) and f.fixed_version == "2.2.3"
    # every raw record is represented, and no CVE is reported twice
    shown = {i for f in fs for i in (f.advisory.id, *f.advisory.aliases)}
    assert {m.advisory for m in raw} <= shown
    ids = [f.advisory.id for f in fs]
    assert len(ids) == len(set(ids)) and len(fs) < len(raw)


def test_pep503_names(db: Database) -> None:
    a = match([lang(Ecosystem.PYPI, "Jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2")], None, db)
    b = match([lang(Ecosystem.PYPI, "jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2")], None, db)
    assert [f.advisory.id for f in a] == [f.advisory.id for f in b]


def test_malicious_package_is_its_own_category(db: Database) -> None:
    fs = match([lang(Ecosystem.PYPI, "ascii2text", "1.0", "pkg:pypi/ascii2text@1.0")], None, db)
    assert len(fs) == 1 and fs[0].advisory.malicious and fs[0].advisory.id == "MAL-2022-7421"
    assert fs[0].severity == Severity.CRITICAL


def test_maven_kev_and_fixed(db: Database) -> None:
    p = lang(Ecosystem.MAVEN, "log4j-core", "2.14.1", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
    f = by(match([p], None, db), "log4j-core")["CVE-2021-44228"]
    assert f.advisory.kev and f.fixed_version == "2.15.0" and f.severity == Severity.CRITICAL
    assert f.advisory.cvss_score == 10.0
    assert match([lang(Ecosystem.MAVEN, "log4j-core", "2.17.1",
                       "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1")], None, db) == ()


def test_npm_go_crates(db: Database) -> None:
    lod = by(match([lang(Ecosystem.NPM, "lodash", "4.17.15", "pkg:npm/lodash@4.17.15")], None, db), "lodash")
    assert lod["CVE-2021-23337"].fixed_version == "4.17.21"
    assert not match([lang(Ecosystem.NPM, "lodash", "4.17.21", "pkg:npm/lodash@4.17.21")], None, db) or all(
        f.fixed_version != "4.17.21" for f in match(
            [lang(Ecosystem.NPM, "lodash", "4.17.21", "pkg:npm/lodash@4.17.21")], None, db))
    go = by(match([lang(Ecosystem.GO, "golang.org/x/net", "v0.0.0-20210226172049-e18ecbb05110",
                        "pkg:golang/golang.org/x/net@v0.0.0-20210226172049-e18ecbb05110")], None, db),
            "golang.org/x/net")
    assert go["CVE-2021-33194"].fixed_version == "0.0.0-20210520170846-37e1c6afe023"  # a pseudo-version bound
    assert "CVE-2022-27664" in go
    sv = by(match([lang(Ecosystem.CARGO, "smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0")], None, db), "smallvec")
    assert "RUSTSEC-2021-0003" in sv["CVE-2021-25900"].advisory.aliases


def test_withdrawn_records_never_match(db: Database) -> None:
    # GO-2024-2575 style: take a withdrawn id from the raw data and check nothing reports it
    import gzip
    import json

    from tests.conftest import VULNDATA

    withdrawn = []
    for line in gzip.open(VULNDATA / "go-vulndb.osv.jsonl.gz", "rt"):
        r = json.loads(line)
        if r.get("withdrawn"):
            withdrawn.append(r)
    assert withdrawn
    r = withdrawn[0]
    a = r["affected"][0]
    intro = next((e["introduced"] for rg in a["ranges"] for e in rg["events"] if "introduced" in e), "0")
    ver = "0.0.1" if intro == "0" else intro
    fs = match([lang(Ecosystem.GO, a["package"]["name"], "v" + ver, "pkg:golang/x@v" + ver)], None, db)
    assert r["id"] not in {i for f in fs for i in (f.advisory.id, *f.advisory.aliases)}


def _host_packages() -> list[Package]:
    out = []
    with open("/var/lib/dpkg/status", encoding="utf-8") as fh:
        for p in Deb822.iter_paragraphs(fh):
            if "installed" not in p.get("Status", ""):
                continue
            src, sv = p.get("Source", p["Package"]), p["Version"]
            if " (" in src:
                src, sv = src.split(" (")[0], src.split(" (")[1].rstrip(")")
            out.append(deb(p["Package"], p["Version"], src, sv))
    return out


@pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="needs a dpkg status")
def test_real_dpkg_status_matches_consistently(db: Database) -> None:
    pkgs = _host_packages()
    fs = match(pkgs, "debian:12", db)
    ids = {p.id for p in pkgs}
    assert fs and all(f.package_id in ids for f in fs)
    # every finding of a binary package is shared by all binaries of the same source at the same version
    src_of = {p.id: (p.meta.source, p.meta.source_version) for p in pkgs}  # type: ignore[union-attr]
    per_src: dict[tuple[str, str], set[frozenset[str]]] = {}
    for p in pkgs:
        per_src.setdefault(src_of[p.id], set()).add(
            frozenset(f.advisory.id for f in fs if f.package_id == p.id))
    assert all(len(v) == 1 for v in per_src.values())
    # sorted: severity descending, then package
    ranks = [f.severity.rank for f in fs]
    assert ranks == sorted(ranks, reverse=True)


def test_go_stdlib_from_toolchain_version(db: Database) -> None:
    std = lang(Ecosystem.GO, "stdlib", "go1.20.1", "pkg:golang/stdlib@1.20.1")
    fs = match([std], None, db)
    assert fs and all(f.fixed_version for f in fs)
    assert match([lang(Ecosystem.GO, "example.com/app", "(devel)", "pkg:golang/example.com/app")], None, db) == ()


def test_go_findings_rated_from_the_cve_record_of_another_source(db: Database) -> None:
    # Go's vulndb records carry no severity: GO-2023-1752 was UNKNOWN (passing any --fail-on) although the
    # db holds CVE-2023-24540 (its alias) with NVD's 9.8 vector from the Debian CVE data
    fs = by(match([lang(Ecosystem.GO, "stdlib", "go1.19.8", "pkg:golang/stdlib@1.19.8")], None, db), "stdlib")
    f = fs["CVE-2023-24540"]
    assert "GO-2023-1752" in f.advisory.aliases
    assert (f.advisory.severity, f.advisory.cvss_score) == (Severity.CRITICAL, 9.8)


def test_os_packages_without_distro_are_reported_as_unmatched(db: Database) -> None:
    from honed.vuln.sbom import SbomCatalog, SbomDistro
    from honed.vuln.scan import scan

    pk = (deb("libssl3", "3.0.11-1~deb12u2", "openssl"),)
    r = scan(SbomCatalog(pk, None, format="cyclonedx"), db)
    assert r.findings == () and "1 OS package(s) were not matched" in r.notices[0]
    r = scan(SbomCatalog(pk, SbomDistro("fedora", "40"), format="cyclonedx"), db)
    assert "no advisories for fedora" in r.notices[0]
    r = scan(SbomCatalog(pk, SbomDistro("debian", "12"), format="cyclonedx"), db)
    assert r.findings and r.notices == ()


def test_alpine_origin_and_apk_versions(db: Database) -> None:
    from honed.model import ApkMeta

    def apk(name: str, version: str) -> Package:
        return Package(name, version, Ecosystem.ALPINE, f"pkg:apk/alpine/{name}@{version}",
                       (Location("/lib/apk/db/installed"),), meta=ApkMeta(origin="openssl"))

    old = by(match([apk("libcrypto1.1", "1.1.1a-r0")], {"id": "alpine", "version_id": "3.19.1"}, db), "libcrypto1.1")
    assert "CVE-2018-0734" not in old and "CVE-2019-1543" in old  # fixed at 1.1.1a-r0 / 1.1.1b-r1
    assert old["CVE-2019-1543"].fixed_version == "1.1.1b-r1"
    with pytest.raises(UnknownDistroError, match="v3.19"):
        match([apk("libcrypto1.1", "1.1.1a-r0")], "alpine:3.99", db)
