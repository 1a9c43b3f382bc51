"""Version ordering per ecosystem: dpkg, rpm, apk, PEP 440, npm semver, Maven, Go (and crates.io semver).

Each scheme is a `key(version) -> comparable` function; the keys are cached because matching compares the
same installed version against many advisory bounds. An unparsable version raises `InvalidVersion`, and the
matcher treats the range as not evaluable (it never guesses "affected" from a version it cannot read).

dpkg is our own implementation of dpkg's `verrevcmp` (python-debian's is correct but ~10x slower per
comparison); tests check it against vectors produced by the real `dpkg --compare-versions` plus
property tests. PEP 440 uses `packaging`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key, lru_cache
from typing import Any

from packaging.version import InvalidVersion as _PkgInvalid
from packaging.version import Version as _PepVersion


class InvalidVersion(ValueError):
    pass


# ---------------------------------------------------------------------------------------------- dpkg


def _dpkg_order(c: str) -> int:
    # dpkg's order(): '~' sorts before everything, even the end of the string; letters before non-letters
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < la else 0
            bc = _dpkg_order(b[j]) if j < lb else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i].isdigit() and j < lb and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


_DPKG_RE = re.compile(r"^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$")


@lru_cache(maxsize=65536)
def parse_dpkg(v: str) -> tuple[int, str, str]:
    v = v.strip()
    m = _DPKG_RE.match(v)
    if not m:
        # dpkg itself accepts upstream versions not starting with a digit (with a warning); so do we
        m2 = re.match(r"^(?:(\d+):)?([A-Za-z0-9.+~:-]+?)(?:-([A-Za-z0-9.+~]+))?$", v)
        if not m2:
            raise InvalidVersion(f"invalid dpkg version {v!r}")
        m = m2
    return (int(m.group(1) or 0), m.group(2), m.group(3) or "")


def dpkg_compare(a: str, b: str) -> int:
    ea, ua, ra = parse_dpkg(a)
    eb, ub, rb = parse_dpkg(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = _verrevcmp(ua, ub)
    if c:
        return -1 if c < 0 else 1
    c = _verrevcmp(ra, rb)
    return (c > 0) - (c < 0)


# ----------------------------------------------------------------------------------------------- rpm


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < lb and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        # tilde sorts before everything, caret after the end but before anything else
        if (i < la and a[i] == "~") or (j < lb and b[j] == "~"):
            if not (i < la and a[i] == "~"):
                return 1
            if not (j < lb and b[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        if (i < la and a[i] == "^") or (j < lb and b[j] == "^"):
            if i >= la:
                return -1
            if j >= lb:
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (i < la and j < lb):
            break
        si, sj = i, j
        if a[i].isdigit():
            while i < la and a[i].isdigit():
                i += 1
            while j < lb and b[j].isdigit():
                j += 1
            isnum = True
        else:
            while i < la and a[i].isalpha():
                i += 1
            while j < lb and b[j].isalpha():
                j += 1
            isnum = False
        sa, sb = a[si:i], b[sj:j]
        if not sb:
            return 1 if isnum else -1
        if isnum:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def parse_rpm(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        try:
            epoch = int(e or 0)
        except ValueError as err:
            raise InvalidVersion(f"invalid rpm epoch in {v!r}") from err
    ver, _, rel = v.rpartition("-") if "-" in v else (v, "", "")
    return epoch, ver, rel


def rpm_compare(a: str, b: str) -> int:
    ea, va, ra = parse_rpm(a)
    eb, vb, rb = parse_rpm(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = _rpmvercmp(va, vb)
    if c:
        return c
    if not ra or not rb:  # a missing release matches any release
        return 0
    return _rpmvercmp(ra, rb)


# ----------------------------------------------------------------------------------------------- apk

_APK_SUFFIX = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "": 4, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
_APK_RE = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$")


@lru_cache(maxsize=16384)
def apk_key(v: str) -> tuple[Any, ...]:
    m = _APK_RE.match(v.strip())
    if not m:
        raise InvalidVersion(f"invalid apk version {v!r}")
    nums = tuple(int(x) for x in m.group(1).split("."))
    letter = ord(m.group(2)) if m.group(2) else 0
    suffixes = tuple(
        (_APK_SUFFIX[s.rstrip("0123456789")], int(s.lstrip("abcdefghijklmnopqrstuvwxyz") or 0))
        for s in m.group(3).split("_")
        if s
    ) + ((_APK_SUFFIX[""], 0),)
    return (nums, letter, suffixes, int(m.group(4) or 0))


# ----------------------------------------------------------------------------------------- PEP 440


@lru_cache(maxsize=16384)
def pep440_key(v: str) -> _PepVersion:
    try:
        return _PepVersion(v)
    except _PkgInvalid as e:
        raise InvalidVersion(f"invalid PEP 440 version {v!r}") from e


# ------------------------------------------------------------------------------------- semver (npm, Go)

_SEMVER_RE = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


@lru_cache(maxsize=16384)
def semver_key(v: str) -> tuple[Any, ...]:
    """Semver 2.0 precedence. Missing minor/patch count as 0 (OSV data has a few "4.0" bounds).
    Go pseudo-versions (v0.0.0-20200101000000-abcdef) are prereleases and order correctly as such."""
    m = _SEMVER_RE.match(v.strip())
    if not m:
        raise InvalidVersion(f"invalid semantic version {v!r}")
    core = (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))
    pre = m.group(4)
    if pre is None:
        return (core, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (core, 0, ids)


# --------------------------------------------------------------------------------------------- Maven

_MVN_QUALIFIERS = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "milestone": 2, "m": 2, "rc": 3, "cr": 3,
                   "snapshot": 4, "": 5, "ga": 5, "final": 5, "release": 5, "sp": 6}


def _mvn_tokens(v: str) -> list[tuple[str, str]]:
    """Split into (separator, token) pairs; a digit/letter switch counts as '-' (as Maven does)."""
    out: list[tuple[str, str]] = []
    sep = "."
    cur = ""
    for c in v.lower():
        if c in ".-_":
            out.append((sep, cur))
            sep, cur = ("." if c == "." else "-"), ""
        elif cur and (cur[-1].isdigit() != c.isdigit()):
            out.append((sep, cur))
            sep, cur = "-", c
        else:
            cur += c
    out.append((sep, cur))
    return out


def _mvn_item(tok: str) -> tuple[int, Any]:
    if tok.isdigit():
        return (2, int(tok))
    q = _MVN_QUALIFIERS.get(tok)
    if q is not None:
        return (1, (q, ""))
    return (1, (7, tok))  # unknown qualifiers sort after "sp", lexically


@lru_cache(maxsize=16384)
def maven_key(v: str) -> tuple[Any, ...]:
    """A simplified Maven ComparableVersion: numbers > qualifiers; trailing zeros / "final" dropped."""
    if not v.strip():
        raise InvalidVersion("empty Maven version")
    items = [(sep, _mvn_item(tok or "0")) for sep, tok in _mvn_tokens(v.strip())]
    # drop trailing "null" items (0, "", ga, final, release) as Maven's normalisation does
    while len(items) > 1 and items[-1][1] in ((2, 0), (1, (5, ""))):
        items.pop()
    # pad comparisons: a shorter version compares as if followed by "null" (0 for numbers)
    return tuple(it for _, it in items)


def _mvn_null_cmp(y: tuple[int, Any]) -> int:
    """Compare "nothing" (a shorter version's missing item) with item y: null == 0 == "" == ga/final."""
    if y[0] == 2:
        return -1 if y[1] > 0 else 0
    rank = y[1][0]
    return 0 if rank == 5 else (1 if rank < 5 else -1)


def maven_compare(a: str, b: str) -> int:
    ka, kb = maven_key(a), maven_key(b)
    for i in range(max(len(ka), len(kb))):
        x = ka[i] if i < len(ka) else None
        y = kb[i] if i < len(kb) else None
        if x == y:
            continue
        if x is None:
            assert y is not None
            c = _mvn_null_cmp(y)
        elif y is None:
            c = -_mvn_null_cmp(x)
        else:
            c = -1 if x < y else 1
        if c:
            return c
    return 0


# ------------------------------------------------------------------------------------------ registry


def _from_cmp(cmp: Callable[[str, str], int]) -> Callable[[str], Any]:
    k = cmp_to_key(cmp)

    @lru_cache(maxsize=65536)
    def key(v: str) -> Any:
        return k(v)

    return key


dpkg_key = _from_cmp(dpkg_compare)
rpm_key = _from_cmp(rpm_compare)
_maven_cmp_key = _from_cmp(maven_compare)

# OSV ecosystem (the part before ':') -> ordering key
_SCHEMES: dict[str, Callable[[str], Any]] = {
    "Debian": dpkg_key,
    "Ubuntu": dpkg_key,
    "Alpine": apk_key,
    "Red Hat": rpm_key,
    "Rocky Linux": rpm_key,
    "AlmaLinux": rpm_key,
    "openSUSE": rpm_key,
    "SUSE": rpm_key,
    "PyPI": pep440_key,
    "npm": semver_key,
    "Go": semver_key,
    "crates.io": semver_key,
    "Maven": _maven_cmp_key,
}


def key_for(ecosystem: str) -> Callable[[str], Any] | None:
    """The ordering key of an OSV ecosystem ("Debian:12" → dpkg), or None when we have no scheme for it."""
    return _SCHEMES.get(ecosystem.split(":", 1)[0])


def compare(ecosystem: str, a: str, b: str) -> int:
    key = key_for(ecosystem)
    if key is None:
        raise InvalidVersion(f"no version scheme for ecosystem {ecosystem!r}")
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)
