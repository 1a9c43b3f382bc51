"""Matching packages against the advisory database.

Per package: work out its OSV identity (ecosystem, name, version) — for Debian the *source* package and
source version under `Debian:<release>` — look its affected rows up by index, and test the version against
each row's intervals and explicit `versions` list. Then merge one package's matches into findings:

* true aliases (the records' `aliases`) are one finding (CVE ↔ GHSA ↔ PYSEC ↔ GO…), its id chosen by a
  fixed preference (MAL, CVE, GHSA, then the smallest id) and the others kept as aliases;
* Debian DSA/DLA/DTSA records only attach their ids to the per-CVE findings they name. The tracker's
  per-CVE status is authoritative: OSV.dev's DLA conversions copy an older release's fixed version under
  newer releases (e.g. `+deb11u1` listed for Debian:12), which would report packages as affected that the
  tracker says are not.

A version that does not parse makes that interval unevaluable (logged), never "affected".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from honed.errors import UserError
from honed.model import Advisory, ApkMeta, DpkgMeta, Ecosystem, Finding, JarMeta, Package, Severity
from honed.vuln import severity as sev
from honed.vuln.db import AdvisoryRow, AffectedRow, Database
from honed.vuln.versions import InvalidVersion, key_for, semver_key

log = logging.getLogger(__name__)

DEBIAN_CODENAMES = {"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14"}
_DEBIAN_ADVISORY = re.compile(r"^(DSA|DLA|DTSA)-")


class UnknownDistroError(UserError):
    """The image's distro release is not covered by the database."""


@dataclass(frozen=True, slots=True)
class Distro:
    id: str = ""
    version_id: str = ""
    codename: str = ""

    @classmethod
    def of(cls, d: Any) -> Distro | None:
        """Accept a Catalog's distro object, a mapping, or "debian:12"."""
        if d is None or isinstance(d, Distro):
            return d
        if isinstance(d, str):
            i, _, v = d.partition(":")
            return cls(i.lower(), v)
        if isinstance(d, dict):
            return cls(str(d.get("id", "")).lower(), str(d.get("version_id", "")), str(d.get("codename", "")))
        return cls(
            str(getattr(d, "id", "") or "").lower(),
            str(getattr(d, "version_id", "") or ""),
            str(getattr(d, "codename", None) or getattr(d, "version_codename", None) or ""),
        )


@dataclass(frozen=True, slots=True)
class RawMatch:
    """One (package, advisory record) match before alias merging."""

    package_id: str
    advisory: str
    ecosystem: str  # the OSV ecosystem matched, e.g. "Debian:12"
    name: str  # the name matched (the source package for Debian)
    version: str  # the version compared (the source version for Debian)
    fixed: str | None
    urgency: str = ""


# -------------------------------------------------------------------------------------- identities


def distro_ecosystem(distro: Distro | None, db: Database, ecosystem: Ecosystem) -> str | None:
    """The OSV ecosystem of an OS package in this image ("Debian:12", "Alpine:v3.19"), checked against what
    the database covers; an uncovered release raises UnknownDistroError naming the covered ones."""
    if distro is None:
        return None
    fam = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine"}.get(distro.id)
    if fam is None:
        return None
    if fam == "Debian":
        rel = (distro.version_id.split(".")[0] if distro.version_id else "") or DEBIAN_CODENAMES.get(
            distro.codename, ""
        )
    elif fam == "Alpine":
        rel = "v" + ".".join(distro.version_id.split(".")[:2])
    else:
        rel = distro.version_id
    covered = sorted(e for e in db.ecosystems() if e.startswith(fam + ":"))
    if not covered:
        return None  # the db has no data for this family: packages simply have no findings
    want = f"{fam}:{rel}"
    if want in covered:
        return want
    pref = [e for e in covered if e.startswith(want + ":")]  # Ubuntu:22.04:LTS
    if pref:
        return pref[0]
    rels = sorted((c.split(":", 1)[1] for c in covered),
                  key=lambda r: [int(x) if x.isdigit() else -1 for x in re.split(r"[.:]", r.lstrip("v"))])
    names = ", ".join(rels)
    raise UnknownDistroError(
        f"{fam} release {rel or '(unknown)'} is not covered by the vulnerability database; it covers {fam} {names}",
        hint="scan an image of a covered release, or import advisories for this one",
    )


def identity(pkg: Package, os_ecosystem: str | None) -> tuple[str, str, str] | None:
    """(OSV ecosystem, name, version) a package is matched under, or None if we cannot match it."""
    e = pkg.ecosystem
    if e in (Ecosystem.DEBIAN, Ecosystem.ALPINE):
        if not os_ecosystem:
            return None
        name, version = pkg.name, pkg.version
        m = pkg.meta
        if isinstance(m, DpkgMeta):
            name, version = m.source or pkg.name, m.source_version or pkg.version
        elif isinstance(m, ApkMeta) and m.origin:
            name = m.origin
        return os_ecosystem, name, version
    if e == Ecosystem.PYPI:
        return "PyPI", pkg.name, pkg.version
    if e == Ecosystem.NPM:
        return "npm", pkg.name, pkg.version
    if e == Ecosystem.GO:
        if not pkg.version or pkg.version.startswith("("):  # "(devel)"
            return None
        v = pkg.version.removeprefix("go") if pkg.name == "stdlib" else pkg.version
        return "Go", pkg.name, v.removeprefix("v")
    if e == Ecosystem.CARGO:
        return "crates.io", pkg.name, pkg.version
    if e == Ecosystem.MAVEN:
        m = pkg.meta
        if isinstance(m, JarMeta) and m.group_id and m.artifact_id:
            return "Maven", f"{m.group_id}:{m.artifact_id}", pkg.version
        try:
            p = PackageURL.from_string(pkg.purl)
            if p.namespace:
                return "Maven", f"{p.namespace}:{p.name}", pkg.version
        except ValueError:
            pass
        return ("Maven", pkg.name, pkg.version) if ":" in pkg.name else None
    return None


# ----------------------------------------------------------------------------------------- matching


def _affected_fixed(row: AffectedRow, version: str) -> tuple[bool, str | None]:
    """Whether `version` is affected by this row, and the (lowest) fixed version of the intervals that hit."""
    key = key_for(row.ecosystem)
    hit = bool(row.versions) and version in row.versions
    fixes: list[tuple[Any, str]] = []
    for typ, intro, fix, last in row.ranges:
        k = semver_key if typ == "S" else key
        if k is None:
            continue
        try:
            kv = k(version)
            if intro not in ("0", "") and kv < k(intro):
                continue
            if fix and not kv < k(fix):
                continue
            if last and kv > k(last):
                continue
            if fix:
                fixes.append((k(fix), fix))
        except InvalidVersion as e:
            log.debug("%s %s: %s", row.advisory, row.name, e)
            continue
        hit = True
    try:
        fixed = min(fixes, key=lambda t: t[0])[1] if fixes else None
    except TypeError:  # SEMVER and ECOSYSTEM bounds in one row: keys of different kinds
        fixed = fixes[0][1]
    return hit, fixed


def match_raw(
    packages: Iterable[Package], distro: Any, db: Database
) -> list[RawMatch]:
    d = Distro.of(distro)
    pkgs = list(packages)
    os_eco = None
    if any(p.ecosystem in (Ecosystem.DEBIAN, Ecosystem.ALPINE) for p in pkgs):
        os_eco = distro_ecosystem(d, db, Ecosystem.DEBIAN)
    out: list[RawMatch] = []
    cache: dict[tuple[str, str], list[AffectedRow]] = {}
    for pkg in pkgs:
        ident = identity(pkg, os_eco)
        if ident is None:
            continue
        eco, name, version = ident
        rows = cache.get((eco, name))
        if rows is None:
            rows = cache[(eco, name)] = db.affected(eco, name)
        for row in rows:
            hit, fixed = _affected_fixed(row, version)
            if hit:
                out.append(RawMatch(pkg.id, row.advisory, eco, name, version, fixed, row.urgency))
    return out


def _primary(ids: Iterable[str], names: Iterable[str]) -> str:
    """The id a merged finding is shown under: a MAL record's id, else the (lowest) CVE among all the
    group's names — so one vulnerability has one id across ecosystems — else a GHSA record, else the
    smallest record id."""
    ids = sorted(ids)
    mal = [i for i in ids if i.startswith("MAL-")]
    if mal:
        return mal[0]
    cves = sorted(n for n in names if n.startswith("CVE-"))
    if cves:
        return cves[0]
    ghsa = [i for i in ids if i.startswith("GHSA-")]
    return ghsa[0] if ghsa else ids[0]


def _title(a: AdvisoryRow | None) -> str:
    if a is None:
        return ""
    if a.summary:
        return a.summary.strip()
    first = a.details.strip().split("\n", 1)[0]
    return first if len(first) <= 120 else first[:117].rstrip() + "…"


def _max_fixed(eco: str, fixes: Sequence[str]) -> str | None:
    if not fixes:
        return None
    key = key_for(eco)
    if key is None:
        return sorted(fixes)[-1]
    try:
        return max(fixes, key=key)
    except InvalidVersion:
        return sorted(fixes)[-1]


def _severity(
    ids: Sequence[str],
    primary: str,
    advs: dict[str, AdvisoryRow],
    cvss: dict[str, list[Any]],
    urgency: str,
    cve_advs: dict[str, AdvisoryRow] | None = None,
) -> tuple[Severity, str, float | None]:
    # 1. a CVSS vector on the records themselves (primary first)
    order = [*(i for i in ids if i == primary), *sorted(i for i in ids if i != primary)]
    for i in order:
        a = advs.get(i)
        if a and a.cvss_vector and a.cvss_score is not None:
            return sev.from_score(a.cvss_score), a.cvss_vector, a.cvss_score
    # 2. the CVSS table, by CVE (v3.x preferred, then v4), then its qualitative rows
    cves = sorted({x for i in ids for x in (i, *(advs[i].aliases if i in advs else ())) if x.startswith("CVE-")})
    rows = [r for c in cves for r in cvss.get(c, ())]
    for typ in ("CVSS_V3", "CVSS_V4"):
        for _src, t, vec, score in sorted(rows):
            if t == typ and score is not None:
                return sev.from_score(score), vec, score
    for c in cves:  # 2b. the vector of the CVE's own record from another source
        a = (cve_advs or {}).get(c)
        if a and a.cvss_vector and a.cvss_score is not None:
            return sev.from_score(a.cvss_score), a.cvss_vector, a.cvss_score
    # 3. the source's qualitative rating
    for i in order:
        a = advs.get(i)
        if a and a.qual_severity:
            s = sev.from_qualitative(a.qual_severity)
            if s != Severity.UNKNOWN:
                return s, "", None
    for _src, t, vec, _score in sorted(rows):
        if t == "QUALITATIVE":
            s = sev.from_qualitative(vec)
            if s != Severity.UNKNOWN:
                return s, "", None
    # 4. Debian's urgency
    return sev.from_urgency(urgency), "", None


def merge(
    raw: Sequence[RawMatch], packages: Iterable[Package], db: Database
) -> tuple[Finding, ...]:
    by_id = {p.id: p for p in packages}
    ids = {m.advisory for m in raw}
    advs = db.advisories(ids)
    all_names = set(ids) | {a for i in ids if i in advs for a in advs[i].aliases}
    kev = db.kev(x for x in all_names if x.startswith("CVE-"))
    cvss = db.cvss(x for x in all_names if x.startswith("CVE-"))
    # the CVE records of other sources (e.g. Debian's, with NVD's vector) rate findings whose own records
    # carry none: Go's vulndb never does, so every Go finding was UNKNOWN and passed any --fail-on
    cve_advs = db.advisories(x for x in all_names if x.startswith("CVE-") and x not in advs)

    per_pkg: dict[str, list[RawMatch]] = {}
    for m in raw:
        per_pkg.setdefault(m.package_id, []).append(m)

    findings: list[Finding] = []
    for pid, ms in per_pkg.items():
        pkg = by_id[pid]
        debian_adv = [m for m in ms if _DEBIAN_ADVISORY.match(m.advisory)]
        rest = [m for m in ms if not _DEBIAN_ADVISORY.match(m.advisory)]
        # union-find over this package's matched records, joined by their aliases
        parent: dict[str, str] = {m.advisory: m.advisory for m in rest}

        def find(x: str, parent: dict[str, str] = parent) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        name_owner: dict[str, str] = {}
        for m in rest:
            a = advs.get(m.advisory)
            for n in (m.advisory, *(a.aliases if a else ())):
                if n in name_owner:
                    ra, rb = find(name_owner[n]), find(m.advisory)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
                else:
                    name_owner[n] = m.advisory
        groups: dict[str, list[RawMatch]] = {}
        for m in rest:
            groups.setdefault(find(m.advisory), []).append(m)
        for gms in groups.values():
            gids = sorted({m.advisory for m in gms})
            names = set(gids) | {x for i in gids if i in advs for x in advs[i].aliases}
            # Debian advisories naming one of this group's CVEs join it as aliases
            for dm in debian_adv:
                da = advs.get(dm.advisory)
                if da and names & set(da.related):
                    names.add(dm.advisory)
            primary = _primary(gids, names)
            urgency = next((m.urgency for m in gms if m.urgency), "")
            severity, vector, score = _severity(gids, primary, advs, cvss, urgency, cve_advs)
            pa = advs.get(primary) or next((advs[i] for i in gids if i in advs), None)
            fixes = [m.fixed for m in gms if m.fixed]
            malicious = any(advs[i].malicious for i in gids if i in advs)
            if malicious and severity == Severity.UNKNOWN:
                severity = Severity.CRITICAL  # a known-malicious package is critical whatever its rating
            advisory = Advisory(
                id=primary,
                aliases=tuple(sorted(names - {primary})),
                summary=_title(pa) or next((_title(advs.get(i)) for i in gids if _title(advs.get(i))), ""),
                severity=severity,
                cvss_vector=vector,
                cvss_score=score,
                kev=bool(names & kev),
                malicious=malicious,
                urgency=urgency,
                references=pa.references if pa else (),
                published=pa.published if pa else "",
                modified=pa.modified if pa else "",
            )
            findings.append(
                Finding(
                    advisory=advisory,
                    package_id=pid,
                    package_name=pkg.name,
                    installed_version=pkg.version,
                    fixed_version=_max_fixed(gms[0].ecosystem, fixes),
                    ecosystem=pkg.ecosystem,
                )
            )
    return tuple(sorted(findings, key=finding_sort_key))


def finding_sort_key(f: Finding) -> tuple[Any, ...]:
    return (-f.advisory.severity.rank, f.package_name, f.package_id, f.advisory.id)


def match(catalog_or_packages: Any, distro: Any, db: Database) -> tuple[Finding, ...]:
    """All findings for a Catalog (its packages and distro) or a sequence of Packages."""
    pkgs = list(getattr(catalog_or_packages, "packages", catalog_or_packages))
    if distro is None:
        distro = getattr(catalog_or_packages, "distro", None)
    raw = match_raw(pkgs, distro, db)
    return merge(raw, pkgs, db)
