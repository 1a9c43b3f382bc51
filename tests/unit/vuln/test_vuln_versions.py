"""Version schemes: dpkg against vectors from the real `dpkg --compare-versions`, plus property tests; the
other schemes against their specs' own examples."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from honed.vuln.versions import (
    InvalidVersion,
    apk_key,
    compare,
    dpkg_compare,
    maven_compare,
    pep440_key,
    rpm_compare,
    semver_key,
)

VECTORS = Path(__file__).with_name("dpkg_vectors.tsv")


def _vectors() -> list[tuple[str, str, int]]:
    out = []
    for line in VECTORS.read_text().splitlines():
        if line.startswith("#") or not line:
            continue
        a, b, r = line.split("\t")
        out.append((a, b, int(r)))
    return out


def test_dpkg_matches_real_dpkg_vectors() -> None:
    vecs = _vectors()
    assert len(vecs) > 2000
    wrong = [(a, b, r, dpkg_compare(a, b)) for a, b, r in vecs if dpkg_compare(a, b) != r]
    assert wrong == []


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
@settings(max_examples=60, deadline=None)
@given(
    a=st.from_regex(r"\A([1-3]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?\Z"),
    b=st.from_regex(r"\A([1-3]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?\Z"),
)
def test_dpkg_agrees_with_dpkg_on_generated_versions(a: str, b: str) -> None:
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], capture_output=True).returncode
    eq = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], capture_output=True).returncode
    assume(lt in (0, 1) and eq in (0, 1))  # dpkg rejected the version: nothing to compare against
    want = -1 if lt == 0 else (0 if eq == 0 else 1)
    assert dpkg_compare(a, b) == want


_DPKG = st.from_regex(r"\A([1-3]:)?[0-9][0-9a-z.+~]{0,8}(-[0-9a-z.+~]{1,6})?\Z")


@given(_DPKG, _DPKG)
def test_dpkg_antisymmetric(a: str, b: str) -> None:
    assert dpkg_compare(a, b) == -dpkg_compare(b, a)


@given(_DPKG, _DPKG, _DPKG)
def test_dpkg_transitive(a: str, b: str, c: str) -> None:
    x, y, z = sorted([a, b, c], key=__import__("functools").cmp_to_key(dpkg_compare))
    assert dpkg_compare(x, y) <= 0 and dpkg_compare(y, z) <= 0 and dpkg_compare(x, z) <= 0


@given(_DPKG)
def test_dpkg_reflexive(a: str) -> None:
    assert dpkg_compare(a, a) == 0


@pytest.mark.parametrize(
    "a,b,want",
    [
        ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0.1", "2.0", 1), ("1.0~rc1", "1.0", -1),
        ("1.0^1", "1.0", 1), ("1.0^", "1.0~", 1), ("1.0a", "1.0", 1), ("1:1.0", "2.0", 1),
        ("1.0-1", "1.0-2", -1), ("1.0", "1.0-5", 0), ("10", "9", 1), ("1.010", "1.9", 1),
        ("1.0.1", "1.0a", 1), ("5.4.17-200.fc35", "5.4.17-200.fc35", 0), ("2.5", "2.5.0", -1),
    ],
)
def test_rpm(a: str, b: str, want: int) -> None:
    assert rpm_compare(a, b) == want
    assert rpm_compare(b, a) == -want


@pytest.mark.parametrize(
    "lo,hi",
    [
        ("1.0", "1.1"), ("1.2.3_rc1", "1.2.3"), ("1.2.3", "1.2.3_p1"), ("1.2.3-r0", "1.2.3-r1"),
        ("1.2.3_alpha", "1.2.3_beta"), ("1.2", "1.2a"), ("1.2.3_git20200101", "1.2.3_p1"), ("3.0.11-r0", "3.1.0-r0"),
        ("1.2.9", "1.2.10"),
    ],
)
def test_apk(lo: str, hi: str) -> None:
    assert apk_key(lo) < apk_key(hi)


@pytest.mark.parametrize(
    "lo,hi",
    [("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-beta.2", "1.0.0-beta.11"),
     ("1.0.0-rc.1", "1.0.0"), ("1.9.0", "1.10.0"), ("v0.0.0-20200101000000-abcdef012345", "v0.0.1"),
     ("0.0.0-20200101000000-abcdef012345", "0.0.0-20210101000000-abcdef012345"), ("1.2.3+build", "1.2.4")],
)
def test_semver_and_go(lo: str, hi: str) -> None:
    assert semver_key(lo) < semver_key(hi)


def test_pep440() -> None:
    assert pep440_key("1.0rc1") < pep440_key("1.0") < pep440_key("1.0.post1") < pep440_key("1.1.dev0")
    assert pep440_key("2.2.2") == pep440_key("2.2.2.0")
    with pytest.raises(InvalidVersion):
        pep440_key("not a version")


@pytest.mark.parametrize(
    "lo,hi",
    [("1.0-alpha-1", "1.0"), ("1.0-beta", "1.0"), ("1.0-rc1", "1.0"), ("1.0-SNAPSHOT", "1.0"), ("1.0", "1.0-sp1"),
     ("1.0", "1.0.1"), ("2.9.10.7", "2.9.10.8"), ("2.17.0", "2.17.1"), ("1.0.RELEASE", "1.0.1"), ("1.0-alpha", "1.0-beta")],
)
def test_maven(lo: str, hi: str) -> None:
    assert maven_compare(lo, hi) == -1
    assert maven_compare(hi, lo) == 1


def test_maven_equivalences() -> None:
    assert maven_compare("1.0", "1.0.0") == 0
    assert maven_compare("1.0.Final", "1.0") == 0
    assert maven_compare("1-ga", "1") == 0


def test_compare_by_ecosystem() -> None:
    assert compare("Debian:12", "3.0.11-1~deb12u2", "3.0.11-1") == -1
    assert compare("PyPI", "3.1.2", "3.1.10") == -1
    assert compare("npm", "4.17.20", "4.17.21") == -1
    with pytest.raises(InvalidVersion):
        compare("Nonexistent", "1", "2")
