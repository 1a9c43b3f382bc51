"""The pipeline on the Node example image: a run killed half-way leaves nothing that looks complete and a
rerun works; the hardened image passes `node --test`; and a removal that breaks the app with no repair rounds
allowed fails verification (exit 2) with nothing promoted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from honed.errors import VerificationFailedError
from honed.report.record import verify_record

pytestmark = pytest.mark.slow

TEST = "node --test /app/test/"


def _free_port() -> int:  # a port nothing listens on
    import socket

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return int(sk.getsockname()[1])


def test_node_pipeline_killed_then_rerun(node_image, vulndb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from honed.pipeline import PipelineOptions, run_pipeline
    from honed.profile import ProfileOptions

    out = tmp_path / "rec"
    cmd = [sys.executable, "-m", "honed", "-q", "pipeline", node_image.ref, "--test", TEST, "--db", str(vulndb),
           "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(6)  # mid-run: profiling or hardening
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and not (tmp_path / "rec-image").exists()

    # The rerun also pushes to a registry that is not there: the local result stays, and honed says what to retry.
    dead = f"127.0.0.1:{_free_port()}/honed-it/node-app:1-hardened"
    res = run_pipeline(node_image.ref, PipelineOptions(profile=ProfileOptions(tests=(TEST,)), output=out,
                                                       db=vulndb, tag=dead))
    assert res.push_error is not None and res.exit_code == 4 and not res.pushed
    assert "cannot reach registry" in str(res.push_error) or "failed" in str(res.push_error)
    assert f"honed record push {out} {dead}" in res.retry
    s = res.summary
    v, b, p = s["vulnerabilities"], s["bytes"], s["packages"]
    print(f"\nnode-app: findings {v['before_total']} → {v['after_total']}, bytes {b['before']} → {b['after']}, "
          f"packages {p['before']} → {p['after']}, repairs {s['verification']['repairs']}, "
          f"overhead {s['timings']['overhead']:.1f} s of {s['timings']['total']:.1f} s")
    assert res.verified and all(d["ok"] for d in s["tests"][-1]["drivers"])
    assert v["after_total"] < v["before_total"] and b["after"] < b["before"]
    chk = verify_record(out)
    assert chk.ephemeral and not chk.trusted_key
    assert (tmp_path / "rec-image" / "oci-layout").is_file()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".")]  # the killed run's leftovers are gone


def test_node_unrepaired_break_fails_verification(node_image, vulndb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from honed.pipeline import PipelineOptions, run_pipeline
    from honed.profile import ProfileOptions

    out = tmp_path / "rec"
    opts = PipelineOptions(profile=ProfileOptions(tests=(TEST,)), output=out, db=vulndb,
                           force_remove=("libssl3",), max_rounds=0)
    with pytest.raises(VerificationFailedError) as ei:
        run_pipeline(node_image.ref, opts)
    assert ei.value.exit_code == 2 and "no image was promoted" in str(ei.value)
    assert not (tmp_path / "rec-image").exists()
    s = json.loads((out / "summary.json").read_text())
    assert not s["verification"]["ok"] and not s["hardened_image"]["promoted"]
    # the evidence is in the record although no repair ran: node cannot load libssl3's libraries
    r0 = s["repair_rounds"][0]
    assert any("libcrypto.so.3" in e or "libssl.so.3" in e for e in r0["evidence"])
    assert r0["suggested"] == ["libssl3"] and r0["restored"] == []
    verify_record(out)
