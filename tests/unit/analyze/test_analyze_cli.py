"""CLI surface of `honed analyze` / `honed harden` that needs no image (the rest: tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.analyze.policy import Policy, load_policy
from honed.cli.main import main
from honed.errors import UserError


def test_commands_are_registered(capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        main(["harden", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--usage", "--preset", "--keep", "--policy", "--mode", "-t", "--force", "--removal-log"):
        assert opt in out


def test_missing_usage_option_is_a_usage_error(capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        main(["analyze", "oci:/nowhere:latest"])
    assert e.value.code == 3


def test_unreadable_usage_file_exits_3(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    (tmp_path / "usage.json").write_text("{not json")
    rc = main(["analyze", "oci:/nowhere:latest", "--usage", str(tmp_path / "usage.json")])
    assert rc == 3
    assert "usage" in capsys.readouterr().err


def test_policy_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = tmp_path / "policy.yaml"
    p.write_text("preset: light\nkeep: [bash, /usr/share/zoneinfo/**]\ndefault_keep: []\nlookups: ignore\n")
    pol = load_policy(p, Policy(keep=("curl",)))
    assert pol.preset == "light" and pol.keep == ("curl", "bash", "/usr/share/zoneinfo/**")
    assert pol.default_keep == () and pol.lookups == "ignore" and pol.sources == (str(p),)
    p.write_text("presett: light\n")
    with pytest.raises(UserError, match="presett") as e:
        load_policy(p)
    assert "preset" in (e.value.hint or "")
    p.write_text("preset: brutal\n")
    with pytest.raises(UserError, match="brutal"):
        load_policy(p)
    p.write_text("keep: 3\n")
    with pytest.raises(UserError, match="keep"):
        load_policy(p)
