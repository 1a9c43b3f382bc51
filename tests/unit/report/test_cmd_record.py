"""`honed record verify` in-process: exit 0 on an intact record, 3 naming the first mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.cli.main import main
from honed.report import attestation as att
from honed.report.record import build_record, write_record


def test_record_verify_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = att.generate_key()
    d = write_record(tmp_path / "rec", build_record({"summary.json": b"{}\n"}, key=key, image=None, predicate={}))
    pub = tmp_path / "k.pub"
    pub.write_text(key.public_pem())
    assert main(["record", "verify", str(d), "--key", str(pub)]) == 0
    assert "OK" in capsys.readouterr().out
    (d / "summary.json").write_text("{}")
    assert main(["record", "verify", str(d)]) == 3
    assert "summary.json was changed" in capsys.readouterr().err
    assert main(["record", "verify", str(tmp_path / "none")]) == 3
