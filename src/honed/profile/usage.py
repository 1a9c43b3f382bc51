"""usage.json ("honed.usage/v1"): the evidence of one or more profiled runs of one image.

    {"schema": "honed.usage/v1",
     "image": {"ref": ..., "digest": ...},
     "runs": [{"id", "tracer", "seconds",
               "drivers": [{"kind", "command", "ok", "exit_code", "seconds", "output_tail"}],
               "paths": {path: {"access": [...], "owners": [package_id, ...]}},
               "summary": {"files_used", "packages_used", "packages_total"}}]}

Output is deterministic apart from the measured seconds: keys sorted, accesses in a fixed order, run ids a
hash of the run's content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.atomic import atomic_write
from honed.errors import UserError
from honed.model import Access, DriverResult, Usage

SCHEMA = "honed.usage/v1"
_ORDER = {a: i for i, a in enumerate(Access)}


def sort_access(accesses: Iterable[Access]) -> tuple[Access, ...]:
    return tuple(sorted(set(accesses), key=_ORDER.__getitem__))


@dataclass(frozen=True, slots=True)
class PathUse:
    access: tuple[Access, ...]
    owners: tuple[str, ...] = ()

    @property
    def used(self) -> bool:
        """Evidence that the file was there and used (anything but a failed lookup)."""
        return any(a is not Access.MISSING for a in self.access)


@dataclass(frozen=True, slots=True)
class Summary:
    files_used: int
    packages_used: int
    packages_total: int

    def line(self) -> str:
        return f"{self.files_used} files used; {self.packages_used}/{self.packages_total} packages used"


@dataclass(frozen=True, slots=True)
class UsageRun:
    id: str
    tracer: str
    seconds: float
    drivers: tuple[DriverResult, ...]
    paths: Mapping[str, PathUse]
    summary: Summary
    error: str | None = None  # why the run could not finish (app crashed, port never opened), if it did not

    @property
    def ok(self) -> bool:
        return self.error is None and all(d.ok for d in self.drivers)

    def missing(self) -> tuple[str, ...]:
        """Paths the run looked up and did not find (strace only): the repair loop's evidence."""
        return tuple(p for p, u in self.paths.items() if Access.MISSING in u.access)

    def to_usage(self, image_digest: str) -> Usage:
        return Usage(
            run_id=self.id,
            image_digest=image_digest,
            accesses=tuple((p, u.access) for p, u in sorted(self.paths.items())),
            drivers=self.drivers,
            tracer=self.tracer,
            seconds=self.seconds,
        )


@dataclass(frozen=True, slots=True)
class UsageReport:
    image_ref: str
    image_digest: str
    runs: tuple[UsageRun, ...] = field(default=())

    @property
    def drivers(self) -> tuple[DriverResult, ...]:
        return tuple(d for r in self.runs for d in r.drivers)

    def paths(self) -> dict[str, frozenset[Access]]:
        """Every path of every run with the union of its accesses."""
        out: dict[str, set[Access]] = {}
        for r in self.runs:
            for p, u in r.paths.items():
                out.setdefault(p, set()).update(u.access)
        return {p: frozenset(a) for p, a in sorted(out.items())}

    def owners(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for r in self.runs:
            for p, u in r.paths.items():
                if u.owners:
                    out[p] = tuple(sorted(set(out.get(p, ())) | set(u.owners)))
        return dict(sorted(out.items()))

    def used_packages(self) -> frozenset[str]:
        return frozenset(o for r in self.runs for u in r.paths.values() if u.used for o in u.owners)

    def usages(self) -> tuple[Usage, ...]:
        return tuple(r.to_usage(self.image_digest) for r in self.runs)

    # -- (de)serialisation -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "image": {"ref": self.image_ref, "digest": self.image_digest},
            "runs": [_run_json(r) for r in self.runs],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self, path: Path | str) -> None:
        atomic_write(Path(path), self.dumps().encode())


def _run_json(r: UsageRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "tracer": r.tracer,
        "seconds": round(r.seconds, 3),
        "drivers": [
            {
                "kind": d.kind,
                "command": d.command,
                "ok": d.ok,
                "exit_code": d.exit_code,
                "seconds": round(d.seconds, 3),
                "output_tail": d.output_tail,
            }
            for d in r.drivers
        ],
        "paths": {
            p: {"access": [a.value for a in u.access], "owners": list(u.owners)}
            for p, u in sorted(r.paths.items())
        },
        "summary": {
            "files_used": r.summary.files_used,
            "packages_used": r.summary.packages_used,
            "packages_total": r.summary.packages_total,
        },
    }
    if r.error is not None:
        out["error"] = r.error
    return out


def run_id(
    image_digest: str, tracer: str, drivers: Iterable[DriverResult], paths: Mapping[str, PathUse]
) -> str:
    """A content hash: the same run's evidence gives the same id, so merging a file twice is harmless."""
    h = hashlib.sha256()
    h.update(f"{image_digest}\0{tracer}\0".encode())
    for d in drivers:
        h.update(f"{d.kind}\0{d.command}\0{d.ok}\0".encode())
    for p, u in sorted(paths.items()):
        h.update(f"{p}\0{','.join(a.value for a in u.access)}\0".encode())
    return "run-" + h.hexdigest()[:16]


def summarize(paths: Mapping[str, PathUse], packages_total: int) -> Summary:
    used = [u for u in paths.values() if u.used]
    return Summary(
        files_used=len(used),
        packages_used=len({o for u in used for o in u.owners}),
        packages_total=packages_total,
    )


# ------------------------------------------------------------------------------------------------- load


def _bad(path: Path | str, why: str) -> UserError:
    return UserError(f"{path} is not a usable honed.usage/v1 file: {why}")


def parse_usage(doc: Any, source: Path | str = "<usage>") -> UsageReport:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise _bad(
            source, f"schema is {doc.get('schema') if isinstance(doc, dict) else None!r}, expected {SCHEMA!r}"
        )
    try:
        image = doc["image"]
        runs = []
        for r in doc["runs"]:
            drivers = tuple(
                DriverResult(
                    kind=str(d["kind"]),
                    command=str(d["command"]),
                    ok=bool(d["ok"]),
                    exit_code=None if d.get("exit_code") is None else int(d["exit_code"]),
                    seconds=float(d.get("seconds", 0.0)),
                    output_tail=str(d.get("output_tail", "")),
                )
                for d in r["drivers"]
            )
            paths = {
                str(p): PathUse(
                    access=sort_access(Access(a) for a in u["access"]),
                    owners=tuple(str(o) for o in u.get("owners", ())),
                )
                for p, u in r["paths"].items()
            }
            s = r["summary"]
            runs.append(
                UsageRun(
                    id=str(r["id"]),
                    tracer=str(r["tracer"]),
                    seconds=float(r["seconds"]),
                    drivers=drivers,
                    paths=paths,
                    summary=Summary(int(s["files_used"]), int(s["packages_used"]), int(s["packages_total"])),
                    error=r.get("error"),
                )
            )
        return UsageReport(
            image_ref=str(image.get("ref", "")), image_digest=str(image["digest"]), runs=tuple(runs)
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(source, f"{type(e).__name__}: {e}") from None


def load_usage(path: Path | str) -> UsageReport:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise UserError(f"cannot read usage file {path}: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(path, f"invalid JSON ({e.msg} at line {e.lineno})") from None
    return parse_usage(doc, path)


def merge(reports: Iterable[UsageReport]) -> UsageReport:
    """Runs of several reports of the same image, in order, each run once."""
    reports = list(reports)
    if not reports:
        raise UserError("nothing to merge")
    digests = {r.image_digest for r in reports}
    if len(digests) > 1:
        raise UserError(f"cannot merge usage of different images: {', '.join(sorted(digests))}")
    seen: set[str] = set()
    runs = []
    for rep in reports:
        for run in rep.runs:
            if run.id not in seen:
                seen.add(run.id)
                runs.append(run)
    return UsageReport(image_ref=reports[0].image_ref, image_digest=reports[0].image_digest, runs=tuple(runs))
