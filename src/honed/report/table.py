"""The scan as a plain-text table grouped by severity (package, installed, fixed, id, title).

Plain text so the library stays free of terminal concerns; the CLI prints it as is."""

from __future__ import annotations

from honed.model import Finding, Severity
from honed.vuln.policy import GateVerdict, shown
from honed.vuln.scan import ScanResult, summary

_COLS = ("PACKAGE", "INSTALLED", "FIXED", "ID", "TITLE")


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _row(f: Finding) -> tuple[str, ...]:
    a = f.advisory
    marks = []
    if a.malicious:
        marks.append("MALICIOUS")
    if a.kev:
        marks.append("KEV")
    if a.urgency == "unimportant":
        marks.append("unimportant")
    title = (" ".join(f"[{m}]" for m in marks) + " " if marks else "") + a.summary.replace("\n", " ")
    return (f.package_name, f.installed_version, f.fixed_version or "(not fixed)", a.id, title)


def render(
    result: ScanResult,
    *,
    min_severity: Severity | None = None,
    ignore_unfixed: bool = False,
    verdict: GateVerdict | None = None,
    title_width: int = 60,
) -> str:
    view = shown(result.findings, min_severity, ignore_unfixed=ignore_unfixed)
    lines: list[str] = []
    what = result.image_ref or "SBOM"
    lines.append(f"{what}  {result.image_digest}".rstrip())
    lines.append(f"database {result.db_digest}  built {result.db_built_at}")
    malicious = [f for f in view if f.advisory.malicious]
    groups: list[tuple[str, list[Finding]]] = []
    if malicious:
        groups.append(("MALICIOUS PACKAGES", malicious))
    for s in sorted(Severity, key=lambda s: -s.rank):
        fs = [f for f in view if f.severity == s and not f.advisory.malicious]
        if fs:
            groups.append((s.value, fs))
    for name, fs in groups:
        rows = [_row(f) for f in fs]
        rows = [(*r[:4], _cut(r[4], title_width)) for r in rows]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLS)]
        lines.append("")
        lines.append(f"{name} ({len(fs)})")
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(_COLS)).rstrip())
        for r in rows:
            lines.append("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
    sm = summary(result.findings)
    lines.append("")
    counts = ", ".join(f"{k.lower()} {v}" for k, v in sm["by_severity"].items() if v)
    lines.append(
        f"{sm['total']} finding(s) in {len(result.packages)} package(s)"
        + (f": {counts}" if counts else "")
        + f"; {sm['fixable']} fixable, {sm['kev']} known exploited, {sm['malicious']} malicious"
        + (f"; {sm['suppressed']} suppressed" if sm["suppressed"] else "")
        + (f"; {sm['total'] - len([f for f in view])} hidden by filters" if len(view) != sm["total"] else "")
    )
    for n in result.notices:
        lines.append(f"notice: {n}")
    if verdict is not None and verdict.threshold is not None:
        lines.append(
            f"gate: {'passed' if verdict.passed else 'FAILED'} (--fail-on {verdict.threshold.value.lower()}"
            + (f": {len(verdict.failing)} finding(s) at or above)" if not verdict.passed else ")")
        )
    return "\n".join(lines) + "\n"
