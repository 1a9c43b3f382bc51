"""Functional verification of a hardened image and the bounded repair loop.

The hardened image runs the same drivers as the original, in the same sandbox, under a tracer that records
failed lookups (strace: fanotify cannot see a file that is not there). A failing run's evidence goes to
`repair.decide`; the packages it names are put back by re-hardening with them on the keep list, and the new
candidate is verified again — at most `max_rounds` times. Every round is kept for the removal log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from honed.errors import ProfileError
from honed.model import Access, DriverResult
from honed.verify.evidence import RemovedIndex
from honed.verify.repair import RepairDecision, decide

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One run of the drivers against one image."""

    image_digest: str
    drivers: tuple[DriverResult, ...]
    error: str | None = None
    paths: Mapping[str, frozenset[Access]] = field(default_factory=dict)
    tracer: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(d.ok for d in self.drivers)

    @property
    def driver_seconds(self) -> float:
        return sum(d.seconds for d in self.drivers)

    def missing(self) -> tuple[str, ...]:
        return tuple(sorted(p for p, a in self.paths.items() if Access.MISSING in a))


def run_checks(image: Any, profile_options: Any, *, trace: str = "strace", progress: Progress | None = None) -> CheckRun:
    """Run the drivers of `profile_options` against `image` (an opened Image or a rootfs dir)."""
    from honed.profile import run_drivers

    digest = str(getattr(image, "manifest_digest", "") or "")
    opts = profile_options
    if trace == "strace" and getattr(opts, "backend", "bwrap") != "bwrap":
        trace = "fanotify"  # strace attaches through bwrap only; the loop then has the output clues alone
    t0 = time.monotonic()
    try:
        res = run_drivers(image, replace(opts, allow_failing_tests=True), trace=trace, progress=progress)
    except ProfileError as e:  # the hardened app could not even start: that is the evidence
        return CheckRun(digest, (), error=e.render(), tracer=trace, seconds=time.monotonic() - t0)
    return CheckRun(
        image_digest=digest,
        drivers=tuple(res.drivers),
        error=res.error,
        paths=dict(res.paths),
        tracer=res.tracer,
        seconds=res.seconds,
    )


@dataclass(frozen=True)
class Candidate:
    """A hardened image to verify: the image, its reference, and what was removed to make it."""

    image: Any  # honed.image.Image
    removed: tuple[tuple[str, tuple[str, ...]], ...]  # (package name, removed files)
    payload: Any = None  # whatever the caller needs back (the HardenResult, the analysis)

    @property
    def digest(self) -> str:
        return str(getattr(self.image, "manifest_digest", "") or "")


@dataclass(frozen=True)
class Round:
    number: int  # 0: the first verification; 1..: after a repair
    digest: str
    check: CheckRun
    decision: RepairDecision | None = None  # when the run failed
    restored_before: tuple[str, ...] = ()  # packages on the keep list for this candidate

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "round": self.number,
            "image_digest": self.digest,
            "ok": self.check.ok,
            "kept_by_repair": list(self.restored_before),
            "drivers": [
                {"kind": x.kind, "command": x.command, "ok": x.ok, "exit_code": x.exit_code,
                 "seconds": round(x.seconds, 3)}
                for x in self.check.drivers
            ],
            "tracer": self.check.tracer,
        }
        if self.check.error:
            d["error"] = self.check.error
        if self.decision is not None:
            d["repair"] = self.decision.as_dict()
        return d


@dataclass(frozen=True)
class LoopResult:
    ok: bool
    final: Candidate
    rounds: tuple[Round, ...]
    restored: tuple[str, ...]  # every package put back, in the order they came back
    reasons: tuple[tuple[str, int, str], ...] = ()  # (package, round, why)

    @property
    def repairs(self) -> int:
        return sum(1 for r in self.rounds if r.number > 0)

    def failure_message(self) -> str:
        last = self.rounds[-1]
        failing = [d for d in last.check.drivers if not d.ok]
        what = (f"{failing[0].kind} {failing[0].command!r} failed" if failing else (last.check.error or "failed"))
        tail = ""
        if failing:
            lines = [x for x in failing[0].output_tail.strip().splitlines() if x.strip()]
            tail = f"; last line: {lines[-1][:200]}" if lines else ""
        why = ""
        if last.decision is not None and not last.decision.explained:
            why = "; no evidence links the failure to a removed package"
        elif len(self.rounds) > 1 and last.decision is not None:
            why = f"; still failing after {self.repairs} repair round(s)"
        return f"the hardened image fails verification: {what}{tail}{why}"


def verify_and_repair(
    first: Candidate,
    reharden: Callable[[tuple[str, ...]], Candidate],
    profile_options: Any,
    *,
    max_rounds: int = 3,
    trace: str = "strace",
    check: Callable[[Candidate], CheckRun] | None = None,
    progress: Progress | None = None,
) -> LoopResult:
    """Verify `first`; while it fails and evidence names removed packages, put them back (`reharden` with
    the growing keep list) and verify again, at most `max_rounds` repairs."""
    say = progress or (lambda _m: None)
    run = check or (lambda c: run_checks(c.image, profile_options, trace=trace, progress=progress))
    restored: list[str] = []
    reasons: list[tuple[str, int, str]] = []
    rounds: list[Round] = []
    cand = first
    for n in range(max_rounds + 1):
        say(f"verifying the hardened image (round {n})" if n else "verifying the hardened image")
        res = run(cand)
        if res.ok:
            rounds.append(Round(n, cand.digest, res, None, tuple(restored)))
            return LoopResult(True, cand, tuple(rounds), tuple(restored), tuple(reasons))
        dec = decide(res.drivers, RemovedIndex(cand.removed), paths=res.paths, already_restored=restored,
                     extra_output=res.error or "")
        rounds.append(Round(n, cand.digest, res, dec, tuple(restored)))
        log.info("round %d failed (%s); evidence → put back %s", n, ", ".join(dec.failed),
                 ", ".join(dec.restore) or "nothing")
        if not dec.explained or n == max_rounds:
            break
        restored.extend(dec.restore)
        reasons.extend((p, n + 1, why) for p, why in dec.reasons)
        say(f"repair {n + 1}: putting back {', '.join(dec.restore)}")
        cand = reharden(tuple(restored))
    return LoopResult(False, cand, tuple(rounds), tuple(restored), tuple(reasons))


def removed_from_log(removal_log: Mapping[str, Any] | Iterable[Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, files) per removed package from a removal log: a dict with "removed"/"packages" entries, or
    an iterable of objects with .name and .files."""
    entries: Iterable[Any]
    if isinstance(removal_log, Mapping):
        entries = removal_log.get("removed") or removal_log.get("packages") or []
    else:
        entries = removal_log
    out = []
    for e in entries:
        if isinstance(e, Mapping):
            name, files = e.get("name", ""), e.get("files") or ()
        else:
            name, files = getattr(e, "name", ""), getattr(e, "files", ())
        if isinstance(files, Mapping):  # {"paths": [...], "count": n}
            files = files.get("paths") or ()
        out.append((str(name), tuple(str(f) for f in files)))
    return tuple(out)
