"""Pure parts of the pipeline: where the verified image goes, the injected clock, the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.cli.cmd_pipeline import before_after_table
from honed.errors import UserError
from honed.model import ImageRef
from honed.pipeline import destination, timestamp_now


def test_destination_rules(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    reg = ImageRef("docker", "127.0.0.1:5000/demo/app", "1.0")
    d = destination(reg, None, out)  # registry input: same repo, TAG-hardened, pushed
    assert str(d.push) == "127.0.0.1:5000/demo/app:1.0-hardened" and d.local == tmp_path / "rec-image"
    local = ImageRef("oci", "/imgs/app", "latest")
    d = destination(local, None, out)
    assert d.push is None and d.local_ref == f"oci:{tmp_path / 'rec-image'}:latest-hardened"
    d = destination(local, "oci:/tmp/hard:v2", out)
    assert d.push is None and (d.local, d.tag) == (Path("/tmp/hard"), "v2")
    d = destination(local, "localhost:5000/x/app:9-hardened", out)
    assert d.push is not None and d.push.tag == "9-hardened" and d.tag == "9-hardened"
    with pytest.raises(UserError):
        destination(local, "app:1-hardened", out)  # no registry host: ambiguous


def test_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert timestamp_now() == "2023-11-14T22:13:20Z"
    assert timestamp_now("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"


def test_before_after_table() -> None:
    s = {"vulnerabilities": {"before": {"CRITICAL": 1, "HIGH": 4}, "after": {"HIGH": 1}, "removed": {"CRITICAL": 1,
                             "HIGH": 3}, "before_total": 5, "after_total": 1, "removed_total": 4},
         "packages": {"before": 100, "after": 20, "removed": 80},
         "bytes": {"before": 126_000_000, "after": 26_000_000, "saved": 100_000_000}}
    lines = before_after_table(s).splitlines()
    assert lines[0].split() == ["before", "after", "removed"]
    assert lines[1].split() == ["critical", "1", "0", "1"] and lines[-1].split() == ["size", "126.0", "MB", "26.0",
                                                                                       "MB", "100.0", "MB"]


def _layout(tmp: Path, name: str, tag: str, content: str) -> Path:
    import shutil
    import subprocess

    if not shutil.which("umoci"):
        pytest.skip("umoci not installed")
    lay = tmp / name
    subprocess.run(["umoci", "init", "--layout", str(lay)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{lay}:{tag}"], check=True)
    b = tmp / f"{name}-bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{lay}:{tag}", str(b)], check=True,
                   capture_output=True)
    (b / "rootfs" / "f.txt").write_text(content)
    subprocess.run(["umoci", "repack", "--image", f"{lay}:{tag}", str(b)], check=True, capture_output=True)
    return lay


def _tags(lay: Path) -> dict[str, str]:
    import json

    idx = json.loads((lay / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in idx["manifests"]}


def test_promote_into_new_and_existing_layouts(tmp_path: Path) -> None:
    import subprocess

    from honed.pipeline import _promote_local

    a = _layout(tmp_path, "a", "h", "one")
    b = _layout(tmp_path, "b", "h", "two")
    dest = tmp_path / "out"
    _promote_local(a, dest, "h")
    assert _tags(dest) == _tags(a)
    # into an existing layout that holds another image (e.g. the input): its tags stay
    src = _layout(tmp_path, "input", "latest", "input")
    before = _tags(src)
    _promote_local(b, src, "h")
    assert _tags(src) == {**before, "h": _tags(b)["h"]}
    _promote_local(a, src, "h")  # a rerun replaces the tag, nothing else
    assert _tags(src) == {**before, "h": _tags(a)["h"]}
    for tag in ("latest", "h"):
        subprocess.run(["umoci", "stat", "--image", f"{src}:{tag}"], check=True, capture_output=True)
    not_layout = tmp_path / "junk"
    not_layout.mkdir()
    (not_layout / "x").write_text("mine")
    with pytest.raises(UserError):
        _promote_local(a, not_layout, "h")
