"""Severity: a CVSS base score computed from the vector (the `cvss` library), else the source's own
qualitative rating, else (Debian only) the security tracker's urgency.

Debian urgency mapping (the tracker's words → ours): unimportant → NEGLIGIBLE, low → LOW, medium → MEDIUM,
high → HIGH; "not yet assigned", "end-of-life" and anything else → UNKNOWN.
"""

from __future__ import annotations

from functools import lru_cache

from honed.model import Severity

_URGENCY = {
    "unimportant": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "low**": Severity.LOW,
    "medium": Severity.MEDIUM,
    "medium**": Severity.MEDIUM,
    "high": Severity.HIGH,
    "high**": Severity.HIGH,
}


@lru_cache(maxsize=8192)
def cvss_score(vector: str) -> float | None:
    """The base score of a CVSS v3.x or v4.0 vector; None when the vector does not parse."""
    try:
        if vector.startswith("CVSS:4."):
            from cvss import CVSS4

            return float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3."):
            from cvss import CVSS3

            return float(CVSS3(vector).base_score)
        if vector.startswith("AV:"):
            from cvss import CVSS2

            return float(CVSS2(vector).base_score)
    except Exception:  # the cvss library raises several unrelated types for malformed vectors
        return None
    return None


def from_score(score: float) -> Severity:
    """The CVSS v3/v4 qualitative rating scale."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NEGLIGIBLE


def from_qualitative(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError:
        return Severity.UNKNOWN


def from_urgency(urgency: str) -> Severity:
    return _URGENCY.get(urgency.strip().lower(), Severity.UNKNOWN)
