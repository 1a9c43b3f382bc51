"""What the user says about findings: ignore files, OpenVEX statements, and the gate verdict.

None of these ever removes a finding from the report: suppression sets `Finding.suppressed_by` (with the
reason / VEX justification), and the gate is a pure function of the findings and the threshold.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from packageurl import PackageURL

from honed.errors import UserError
from honed.model import Finding, Package, Severity

# ----------------------------------------------------------------------------------------- ignore file


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    id: str
    package: str = ""  # a package name (binary or source) or a purl; "" = any package
    reason: str = ""
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


def load_ignore_file(path: Path | str) -> tuple[IgnoreRule, ...]:
    """YAML: `ignore: [{id, package|purl, reason, expires: YYYY-MM-DD}]` (a bare list works too)."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read ignore file {p}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise UserError(f"ignore file {p} is not valid YAML: {str(e).splitlines()[0]}") from e
    entries = doc.get("ignore", doc.get("vulnerabilities")) if isinstance(doc, dict) else doc
    if doc is None:
        entries = []
    if not isinstance(entries, list):
        raise UserError(f"ignore file {p}: expected a list under 'ignore'")
    rules = []
    for n, ent in enumerate(entries, 1):
        if not isinstance(ent, dict) or not ent.get("id"):
            raise UserError(f"ignore file {p}: entry {n} needs an 'id'")
        exp = ent.get("expires") or ent.get("expired_at")
        if exp is not None and not isinstance(exp, dt.date):
            try:
                exp = dt.date.fromisoformat(str(exp)[:10])
            except ValueError as err:
                raise UserError(f"ignore file {p}: entry {n} has an invalid expiry date {exp!r}") from err
        if isinstance(exp, dt.datetime):
            exp = exp.date()
        rules.append(
            IgnoreRule(
                id=str(ent["id"]),
                package=str(ent.get("purl") or ent.get("package") or ""),
                reason=str(ent.get("reason") or ent.get("statement") or ""),
                expires=exp,
            )
        )
    return tuple(rules)


def _ids(f: Finding) -> set[str]:
    return {f.advisory.id, *f.advisory.aliases}


def _purl_matches(pattern: str, purl: str) -> bool:
    """A purl pattern without a version matches every version; qualifiers in the pattern must agree."""
    try:
        a, b = PackageURL.from_string(pattern), PackageURL.from_string(purl)
    except ValueError:
        return False
    if (a.type, a.namespace, a.name) != (b.type, b.namespace, b.name):
        return False
    if a.version and a.version != b.version:
        return False
    bq = b.qualifiers if isinstance(b.qualifiers, dict) else {}
    aq = a.qualifiers if isinstance(a.qualifiers, dict) else {}
    return all(bq.get(k) == v for k, v in aq.items())


def _package_matches(pattern: str, f: Finding, pkg: Package | None) -> bool:
    if not pattern:
        return True
    if pattern.startswith("pkg:"):
        return pkg is not None and _purl_matches(pattern, pkg.purl)
    names = {f.package_name}
    src = getattr(pkg.meta, "source", "") if pkg is not None else ""
    if src:
        names.add(src)
    return pattern in names


def apply_ignores(
    findings: Sequence[Finding], rules: Sequence[IgnoreRule], packages: dict[str, Package], today: dt.date
) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """Mark findings an unexpired rule covers; notices say which rules expired (and so stopped suppressing)."""
    notices: list[str] = []
    for r in rules:
        if r.expired(today):
            notices.append(
                f"ignore rule for {r.id}{' on ' + r.package if r.package else ''} expired on {r.expires}; "
                "it no longer suppresses anything"
            )
    live = [r for r in rules if not r.expired(today)]
    out = []
    for f in findings:
        if not f.suppressed_by:
            for r in live:
                if r.id in _ids(f) and _package_matches(r.package, f, packages.get(f.package_id)):
                    f = replace(f, suppressed_by=f"ignore-file: {r.reason or 'no reason given'}")
                    break
        out.append(f)
    return tuple(out), tuple(notices)


# ------------------------------------------------------------------------------------------- OpenVEX


@dataclass(frozen=True, slots=True)
class VexStatement:
    vulnerability: frozenset[str]
    products: tuple[str, ...]  # purls or image references / digests
    subcomponents: tuple[str, ...]
    status: str
    justification: str = ""
    impact: str = ""
    timestamp: str = ""


def load_openvex(path: Path | str) -> tuple[VexStatement, ...]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read VEX file {p}: {e.strerror}") from e
    except ValueError as e:
        raise UserError(f"VEX file {p} is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("statements"), list):
        raise UserError(f"VEX file {p} is not an OpenVEX document (no 'statements')")
    default_ts = str(doc.get("timestamp") or "")
    out = []
    for n, s in enumerate(doc["statements"], 1):
        if not isinstance(s, dict) or not isinstance(s.get("vulnerability"), dict) or not s.get("status"):
            raise UserError(f"VEX file {p}: statement {n} lacks a vulnerability or status")
        v = s["vulnerability"]
        names = {str(v.get("name") or ""), *(str(a) for a in v.get("aliases") or ())} - {""}
        prods, subs = [], []
        for pr in s.get("products") or ():
            if isinstance(pr, dict):
                pid = pr.get("@id") or (pr.get("identifiers") or {}).get("purl") or ""
                if pid:
                    prods.append(str(pid))
                for sc in pr.get("subcomponents") or ():
                    sid = sc.get("@id") or (sc.get("identifiers") or {}).get("purl") if isinstance(sc, dict) else None
                    if sid:
                        subs.append(str(sid))
        out.append(
            VexStatement(
                frozenset(names), tuple(prods), tuple(subs), str(s["status"]),
                str(s.get("justification") or ""), str(s.get("impact_statement") or ""),
                str(s.get("timestamp") or default_ts),
            )
        )
    return tuple(out)


def _vex_applies(st: VexStatement, f: Finding, pkg: Package | None, image_ids: set[str]) -> bool:
    if not (st.vulnerability & _ids(f)):
        return False
    purl = pkg.purl if pkg else ""

    def hits(ids: Iterable[str]) -> bool:
        return any(i.startswith("pkg:") and purl and _purl_matches(i, purl) for i in ids)

    if hits(st.products):
        return True
    if any(p in image_ids or p.split("@")[-1] in image_ids for p in st.products):
        return not st.subcomponents or hits(st.subcomponents)
    return False


def apply_vex(
    findings: Sequence[Finding], statements: Sequence[VexStatement], packages: dict[str, Package],
    image_ids: Iterable[str] = (),
) -> tuple[Finding, ...]:
    """`not_affected` suppresses (justification kept); the latest applicable statement wins."""
    imgs = {i for i in image_ids if i}
    ordered = sorted(statements, key=lambda s: s.timestamp)
    out = []
    for f in findings:
        last: VexStatement | None = None
        for st in ordered:
            if _vex_applies(st, f, packages.get(f.package_id), imgs):
                last = st
        if last is not None and last.status == "not_affected" and not f.suppressed_by:
            why = last.justification or last.impact or "no justification given"
            f = replace(f, suppressed_by=f"vex: not_affected ({why})")
        out.append(f)
    return tuple(out)


# ------------------------------------------------------------------------------------------- the gate


@dataclass(frozen=True, slots=True)
class GateVerdict:
    passed: bool
    threshold: Severity | None
    failing: tuple[str, ...]  # "ID package" of each finding at or above the threshold that remains

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "threshold": self.threshold.value if self.threshold else None,
                "failing": list(self.failing)}


def counts(f: Finding, ignore_unfixed: bool) -> bool:
    """Whether a finding 'remains' for the gate: not suppressed, not one the distribution rates `unimportant`
    (Debian's tracker: no security impact in its build, e.g. glibc's CVE-2019-1010022, CVSS 9.8 from NVD; it
    stays in every report, flagged, but a gate that fails on it forever gets switched off), and fixable if
    unfixed ones are ignored. A malicious package never has a fix; --ignore-unfixed must not wave it through."""
    return not f.suppressed_by and f.advisory.urgency != "unimportant" and not (ignore_unfixed and _unfixed(f))


def _unfixed(f: Finding) -> bool:
    return not f.fixed_version and not f.advisory.malicious


def gate(findings: Iterable[Finding], fail_on: Severity | None, *, ignore_unfixed: bool = False) -> GateVerdict:
    """Pure: fails iff a remaining finding is at or above `fail_on`. `--severity` does not enter here."""
    if fail_on is None:
        return GateVerdict(True, None, ())
    failing = sorted(
        f"{f.advisory.id} {f.package_name}"
        for f in findings
        if counts(f, ignore_unfixed) and f.severity.rank >= fail_on.rank
    )
    return GateVerdict(not failing, fail_on, tuple(failing))


def shown(findings: Iterable[Finding], min_severity: Severity | None, *, ignore_unfixed: bool = False,
          include_suppressed: bool = False) -> tuple[Finding, ...]:
    """What a report displays: `--severity` and `--ignore-unfixed` filter the view only."""
    out = []
    for f in findings:
        if f.suppressed_by and not include_suppressed:
            continue
        if ignore_unfixed and _unfixed(f):
            continue
        if min_severity is not None and f.severity.rank < min_severity.rank:
            continue
        out.append(f)
    return tuple(out)
