"""usage.json: the contract other stages read (honed.usage/v1), loading, merging, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from honed.cli.main import main
from honed.errors import UserError
from honed.model import Access, DriverResult
from honed.profile.api import report_from_runs
from honed.profile.runner import RunResult
from honed.profile.usage import load_usage, merge

OWNERS = {
    "/usr/bin/python3.11": ("pkg:deb/debian/python3.11-minimal@3.11.2-6@/var/lib/dpkg/status",),
    "/usr/bin/python3": ("pkg:deb/debian/python3-minimal@3.11.2-1@/var/lib/dpkg/status",),
}


def _result(extra: dict[str, frozenset[Access]] | None = None, ok: bool = True) -> RunResult:
    paths = {
        "/usr/bin/python3.11": frozenset({Access.EXEC}),
        "/usr/bin/python3": frozenset({Access.LOOKUP}),
        "/app/app.py": frozenset({Access.OPEN}),
        "/usr/lib/python3.11/nope.py": frozenset({Access.MISSING}),
        **(extra or {}),
    }
    drivers = (DriverResult("test", "pytest /app/tests", ok, 0 if ok else 1, 1.5, "2 passed"),)
    return RunResult(tracer="fanotify", seconds=2.25, drivers=drivers, paths=paths)


def _report(*results: RunResult):  # type: ignore[no-untyped-def]
    return report_from_runs(
        results,
        rootfs="/nonexistent",
        image_ref="oci:/x:latest",
        image_digest="sha256:" + "a" * 64,
        owners=(lambda p: OWNERS.get(p, ()), 120),
    )


def test_document_follows_the_contract(tmp_path: Path) -> None:
    rep = _report(_result())
    doc = rep.to_json()
    assert doc["schema"] == "honed.usage/v1"
    assert doc["image"] == {"ref": "oci:/x:latest", "digest": "sha256:" + "a" * 64}
    (run,) = doc["runs"]
    assert set(run) == {"id", "tracer", "seconds", "drivers", "paths", "summary"}
    assert run["drivers"] == [
        {"kind": "test", "command": "pytest /app/tests", "ok": True, "exit_code": 0, "seconds": 1.5,
         "output_tail": "2 passed"}
    ]  # fmt: skip
    assert run["paths"]["/usr/bin/python3"] == {
        "access": ["lookup"],
        "owners": list(OWNERS["/usr/bin/python3"]),
    }
    assert run["paths"]["/usr/lib/python3.11/nope.py"] == {"access": ["missing"], "owners": []}
    # files_used counts what was there and used; a failed lookup is not a use
    assert run["summary"] == {"files_used": 3, "packages_used": 2, "packages_total": 120}
    out = tmp_path / "usage.json"
    rep.write(out)
    assert out.read_text() == rep.dumps()  # and the same input gives the same bytes
    assert _report(_result()).dumps() == rep.dumps()


def test_load_round_trips(tmp_path: Path) -> None:
    rep = _report(_result())
    rep.write(tmp_path / "u.json")
    got = load_usage(tmp_path / "u.json")
    assert got == rep
    assert got.image_digest == "sha256:" + "a" * 64
    assert got.paths()["/usr/bin/python3.11"] == frozenset({Access.EXEC})
    assert got.drivers[0].command == "pytest /app/tests"
    assert got.used_packages() == frozenset(o for v in OWNERS.values() for o in v)
    assert got.runs[0].missing() == ("/usr/lib/python3.11/nope.py",)
    (usage,) = got.usages()
    assert usage.tracer == "fanotify" and ("/app/app.py", (Access.OPEN,)) in usage.accesses


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "invalid JSON"),
        ('{"schema": "other/v1"}', "expected 'honed.usage/v1'"),
        ('{"schema": "honed.usage/v1", "image": {}, "runs": []}', "KeyError"),
        ('{"schema": "honed.usage/v1", "image": {"digest": "d"}, "runs": [{"id": 1}]}', "KeyError"),
    ],
)
def test_bad_files_are_user_errors(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "u.json"
    p.write_text(content)
    with pytest.raises(UserError, match=message):
        load_usage(p)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read usage file"):
        load_usage(tmp_path / "absent.json")


def test_merge_keeps_each_run_once_and_unions_paths() -> None:
    a = _report(_result())
    b = _report(_result({"/usr/share/x.txt": frozenset({Access.OPEN})}))
    m = merge([a, b, a])
    assert len(m.runs) == 2 and m.runs[0].id != m.runs[1].id
    assert "/usr/share/x.txt" in m.paths() and "/app/app.py" in m.paths()
    other = report_from_runs(
        [_result()], rootfs="/x", image_digest="sha256:" + "b" * 64, owners=(lambda p: (), 0)
    )
    with pytest.raises(UserError, match="different images"):
        merge([a, other])


def test_cli_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _report(_result()).write(tmp_path / "a.json")
    _report(_result({"/etc/hosts": frozenset({Access.OPEN})})).write(tmp_path / "b.json")
    assert (
        main(
            [
                "profile",
                "--merge",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "-o",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "c.json").read_text())
    assert len(doc["runs"]) == 2
    (tmp_path / "bad.json").write_text("[]")
    assert main(["profile", "--merge", str(tmp_path / "bad.json")]) == 3
    assert "not a usable honed.usage/v1 file" in capsys.readouterr().err
    assert main(["profile"]) == 3
    assert main(["profile", "oci:/x", "--http-probe", "notaport"]) == 3
