"""The repair loop's decision: given a failing verification run, which removed packages go back.

Precise first: clues in the failing drivers' output (a named library, module, program or path) are the
strongest evidence; when they point at removed packages, only those come back. Otherwise the tracer's failed
lookups of removed files decide. Packages already put back in an earlier round are not candidates again: if a
failure persists after they returned, its cause is elsewhere. No attributable evidence → the failure is not
explained by the removal, and the loop stops (the caller raises VerificationFailedError).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from honed.model import DriverResult
from honed.verify.evidence import Attribution, Clue, RemovedIndex, clues_from_output, clues_from_paths


@dataclass(frozen=True, slots=True)
class RepairDecision:
    failed: tuple[str, ...]  # the failing drivers' commands
    restore: tuple[str, ...] = ()  # package names to put back, sorted
    reasons: tuple[tuple[str, str], ...] = ()  # (package, why) for the removal log
    evidence: tuple[str, ...] = ()  # every clue seen, described
    basis: str = ""  # "output", "tracer" or "" (nothing attributable)
    attributions: tuple[Attribution, ...] = field(default=(), repr=False)

    @property
    def needed(self) -> bool:
        return bool(self.failed)

    @property
    def explained(self) -> bool:
        return bool(self.restore)

    def as_dict(self) -> dict[str, object]:
        return {
            "failed": list(self.failed),
            "restore": list(self.restore),
            "reasons": [{"package": p, "why": w} for p, w in self.reasons],
            "evidence": list(self.evidence),
            "basis": self.basis,
        }


def _pick(atts: Iterable[Attribution], already: Collection[str]) -> list[Attribution]:
    return [a for a in atts if a.package not in already]


def decide(
    drivers: Sequence[DriverResult],
    index: RemovedIndex,
    *,
    paths: Mapping[str, Iterable[str]] | None = None,
    already_restored: Collection[str] = (),
    extra_output: str = "",
) -> RepairDecision:
    """`drivers`: the hardened run's driver results; `paths`: its tracer paths (path -> accesses);
    `extra_output`: the app's own output when it failed to start (no driver ran)."""
    failing = [d for d in drivers if not d.ok]
    failed = tuple(d.command for d in failing)
    app_failed = any(d.kind == "app" for d in failing)
    if extra_output and not app_failed:  # the app's own driver already stands for its start failure
        failed = (*failed, "start the app")
    if not failed:
        return RepairDecision(failed=())
    out_clues: list[Clue] = []
    for d in failing:
        out_clues.extend(clues_from_output(d.output_tail, d.command))
    if extra_output:
        out_clues.extend(clues_from_output(extra_output, "app start"))
    trace_clues = clues_from_paths(paths or {})

    chosen: list[Attribution] = []
    basis = ""
    strong = _pick((a for c in out_clues for a in index.attribute(c)), already_restored)
    if strong:
        chosen, basis = strong, "output"
    else:
        weak = _pick((a for c in trace_clues for a in index.attribute(c)), already_restored)
        if weak:
            chosen, basis = weak, "tracer"

    reasons: dict[str, list[str]] = {}
    seen: set[tuple[str, str, str, str]] = set()  # the same clue seen by two sources is one reason
    for a in chosen:
        k = (a.package, a.clue.kind, a.clue.value, a.file)
        if k in seen:
            continue
        seen.add(k)
        why = a.clue.describe() + (f" → {a.file}" if a.file and a.file != a.clue.value else "")
        reasons.setdefault(a.package, []).append(why)
    # Evidence shown to the user: output clues first (they explain), then the tracer's, bounded.
    attributed = {a.clue for a in chosen}
    ev, seen_ev = [], set()
    for c in [*out_clues, *(c for c in trace_clues if c in attributed)]:
        if (c.kind, c.value) not in seen_ev:
            seen_ev.add((c.kind, c.value))
            ev.append(c.describe())
    return RepairDecision(
        failed=failed,
        restore=tuple(sorted(reasons)),
        reasons=tuple((p, "; ".join(w[:5]) + (f" (+{len(w) - 5} more)" if len(w) > 5 else "")) for p, w in sorted(reasons.items())),
        evidence=tuple(ev[:50]),
        basis=basis,
        attributions=tuple(chosen),
    )
