"""`honed pipeline` from the command line on the nginx site (HTTP probes only): the before/after table on
stdout, the gate deciding only the exit code, and the report never filtered by it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_nginx_cli_gate(nginx_image, vulndb, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from honed.cli.main import main

    out = tmp_path / "rec"
    code = main(["-q", "pipeline", nginx_image.ref, "--http-probe", "80/", "--db", str(vulndb),
                 "--output", str(out), "--fail-on", "low"])
    printed = capsys.readouterr()
    s = json.loads((out / "summary.json").read_text())
    hard = json.loads((out / "hardened-scan.json").read_text())
    v = s["vulnerabilities"]
    print(f"\nnginx-site: findings {v['before_total']} → {v['after_total']}, bytes {s['bytes']['before']} → "
          f"{s['bytes']['after']}, overhead {s['timings']['overhead']:.1f} s")
    assert s["verification"]["ok"] and v["after_total"] < v["before_total"]
    blocking = [f for f in hard["findings"] if f["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
                and not f["suppressed"] and not f.get("unimportant")]  # Debian's "unimportant" never gates
    assert s["gate"]["passed"] == (not blocking) and code == (0 if not blocking else 1)
    # the gate decides the exit code only: every finding is still in the report, whatever its severity
    assert len(hard["findings"]) == v["after_total"] and hard["gate"]["passed"] == s["gate"]["passed"]
    lines = printed.out.splitlines()
    assert lines[0].split() == ["before", "after", "removed"] and any(x.startswith("findings") for x in lines)
    assert f"honed record verify {out}" in printed.out
    assert main(["record", "verify", str(out)]) == 0
    # OpenVEX: one statement per vulnerability that left; a document only when there is one (schema: ≥ 1)
    vex_path = out / "vex.openvex.json"
    assert vex_path.exists() == (s["vex_statements"] > 0)
    if vex_path.exists():
        import jsonschema
        from tests.conftest import SCHEMAS

        vex = json.loads(vex_path.read_text())
        schema = json.loads((SCHEMAS / "openvex" / "openvex_json_schema.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(vex)
        assert len(vex["statements"]) == s["vex_statements"]
