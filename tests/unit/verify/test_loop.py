"""The repair loop's control flow: bounded rounds, growing keep list, every round recorded.

The image under test is stood in for by a function from "what was removed" to the run's evidence, with the
exact messages real programs print when those files are missing (see test_repair_decision.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from honed.model import Access, DriverResult
from honed.verify.loop import Candidate, CheckRun, removed_from_log, verify_and_repair

LISTS = json.loads((Path(__file__).parent / "data" / "removed-lists.json").read_text())
LOADER = ("python3: error while loading shared libraries: libssl.so.3: cannot open shared object file: "
          "No such file or directory")


def _candidate(removed: list[str]) -> Candidate:
    return Candidate(image=None, removed=tuple((n, tuple(LISTS[n])) for n in removed))


def _app(c: Candidate) -> CheckRun:
    """An app that needs libssl3 (loader error) and, once that is back, sqlite3 from the stdlib package."""
    names = {n for n, _ in c.removed}
    if "libssl3" in names:
        return CheckRun("d", (DriverResult("test", "pytest /app/tests", False, 127, 0.1, LOADER),))
    if "libpython3.11-stdlib" in names:
        return CheckRun("d", (DriverResult("test", "pytest /app/tests", False, 1, 0.1, "E   AssertionError"),),
                        paths={"/usr/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so":
                               frozenset({Access.MISSING})})
    return CheckRun("d", (DriverResult("test", "pytest /app/tests", True, 0, 0.1, ""),))


ALL = ["libssl3", "libpython3.11-stdlib", "curl", "gzip"]


def _reharden(keep: tuple[str, ...]) -> Candidate:
    return _candidate([n for n in ALL if n not in keep])


def test_two_repairs_then_pass() -> None:
    r = verify_and_repair(_candidate(ALL), _reharden, None, check=_app)
    assert r.ok and r.restored == ("libssl3", "libpython3.11-stdlib") and r.repairs == 2
    assert [x.number for x in r.rounds] == [0, 1, 2]
    assert r.rounds[0].decision is not None and r.rounds[0].decision.basis == "output"
    assert r.rounds[1].decision is not None and r.rounds[1].decision.basis == "tracer"
    assert {n for n, _ in r.final.removed} == {"curl", "gzip"}
    d = r.rounds[1].as_dict()
    assert d["kept_by_repair"] == ["libssl3"] and d["repair"]["restore"] == ["libpython3.11-stdlib"]
    assert [(p, n) for p, n, _ in r.reasons] == [("libssl3", 1), ("libpython3.11-stdlib", 2)]


def test_bounded_rounds() -> None:
    r = verify_and_repair(_candidate(ALL), _reharden, None, check=_app, max_rounds=1)
    assert not r.ok and r.restored == ("libssl3",) and len(r.rounds) == 2
    assert "still failing after 1 repair round" in r.failure_message()


def test_unexplained_failure_stops_at_once() -> None:
    def broken(c: Candidate) -> CheckRun:
        return CheckRun("d", (DriverResult("test", "npm test", False, 1, 0.1, "AssertionError: 2 == 3"),))

    calls: list[tuple[str, ...]] = []
    def reharden(k: tuple[str, ...]) -> Candidate:
        calls.append(k)
        return _candidate(ALL)

    r = verify_and_repair(_candidate(ALL), reharden, None, check=broken)
    assert not r.ok and calls == [] and len(r.rounds) == 1
    assert "no evidence links the failure to a removed package" in r.failure_message()
    assert "AssertionError: 2 == 3" in r.failure_message()


def test_passing_first_time() -> None:
    r = verify_and_repair(_candidate(["curl"]), _reharden, None, check=_app)
    assert r.ok and r.repairs == 0 and r.restored == ()


def test_removed_from_log_shapes() -> None:
    log = {"removed": [{"name": "curl", "files": ["/usr/bin/curl"]},
                       {"name": "gzip", "files": {"paths": ["/bin/gzip"], "count": 1}}]}
    assert removed_from_log(log) == (("curl", ("/usr/bin/curl",)), ("gzip", ("/bin/gzip",)))
