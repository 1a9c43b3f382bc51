"""Security verification: the before/after delta of two scans, and the gate verdict (pure functions).

Findings are counted as (vulnerability, package name) pairs: the same CVE in two packages is two findings,
the same CVE reported twice for one package (two locations of one dist) is one. "Removed" are the baseline's
findings the hardened scan no longer reports. The gate itself is the scan stage's (honed.vuln.policy.gate),
so `honed scan --fail-on` and `honed pipeline --fail-on` agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from honed.errors import UserError
from honed.model import Finding, Severity

SEVERITY_NAMES = tuple(s.value for s in sorted(Severity, key=lambda s: -s.rank))  # CRITICAL first


def _key(f: Finding) -> tuple[str, str]:
    return (f.advisory.id, f.package_name)


def _counts(findings: Iterable[Finding]) -> dict[str, int]:
    c = Counter(f.severity.value for f in findings)
    return {s: c.get(s, 0) for s in SEVERITY_NAMES}


def unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        k = _key(f)
        if k not in seen or f.severity.rank > seen[k].severity.rank:
            seen[k] = f
    return [seen[k] for k in sorted(seen)]


@dataclass(frozen=True, slots=True)
class Delta:
    before: dict[str, int]
    after: dict[str, int]
    removed: dict[str, int]
    before_total: int
    after_total: int
    removed_total: int
    removed_findings: tuple[Finding, ...]
    vulnerabilities_before: int  # distinct advisory ids
    vulnerabilities_after: int

    def as_dict(self) -> dict[str, object]:
        return {
            "before": self.before,
            "after": self.after,
            "removed": self.removed,
            "before_total": self.before_total,
            "after_total": self.after_total,
            "removed_total": self.removed_total,
            "distinct_before": self.vulnerabilities_before,
            "distinct_after": self.vulnerabilities_after,
        }


def delta(before: Iterable[Finding], after: Iterable[Finding]) -> Delta:
    b, a = unique(before), unique(after)
    akeys = {_key(f) for f in a}
    removed = [f for f in b if _key(f) not in akeys]
    return Delta(
        before=_counts(b),
        after=_counts(a),
        removed=_counts(removed),
        before_total=len(b),
        after_total=len(a),
        removed_total=len(removed),
        removed_findings=tuple(removed),
        vulnerabilities_before=len({f.advisory.id for f in b}),
        vulnerabilities_after=len({f.advisory.id for f in a}),
    )


def parse_fail_on(text: str | None) -> Severity | None:
    if text is None or text == "":
        return None
    try:
        sev = Severity.parse(text)
    except ValueError:
        raise UserError(
            f"invalid --fail-on {text!r}", hint="one of critical, high, medium, low, negligible, unknown"
        ) from None
    return sev
