"""The whole pipeline on the Flask example image, with a deliberately broken removal.

One run covers the issue's "done when" on a Python web app: `--force-remove libssl3` breaks the app (its TLS
endpoint imports `ssl`, whose extension needs libssl.so.3); verification finds it, the repair loop puts
libssl3 back, the hardened image passes the suite, CVEs and bytes drop, the record verifies with the signing
key, and the image is pushed to a real registry with the record attached as an OCI artifact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from honed.report.record import RECORD_FILES, verify_record

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    k = Ed25519PrivateKey.generate()
    (d / "k.pem").write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    (d / "k.pub").write_bytes(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return d / "k.pem", d / "k.pub"


def test_flask_pipeline_repairs_and_records(flask_image, vulndb, registry, keypair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from honed.pipeline import PipelineOptions, run_pipeline
    from honed.profile import ProfileOptions
    from honed.verify.publish import ARTIFACT_TYPE, Target, fetch_record, referrers

    # The input comes from a registry; without -t the result goes back to the same repository as TAG-hardened.
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", flask_image.ref,
                    f"docker://{registry.host}/honed-it/flask-app:latest"], check=True)
    out = tmp_path / "record"
    target = f"{registry.host}/honed-it/flask-app:latest-hardened"
    opts = PipelineOptions(
        profile=ProfileOptions(tests=("pytest /app/tests",)), output=out, db=vulndb,
        sign_key=keypair[0], force_remove=("libssl3",), timestamp="2026-01-01T00:00:00Z",
    )
    res = run_pipeline(f"docker://{registry.host}/honed-it/flask-app:latest", opts)
    assert res.image_ref == target
    s = res.summary

    # verification found the broken removal and the loop repaired it
    assert res.verified and s["verification"]["repairs"] >= 1
    assert "libssl3" in [r["name"] for r in s["restored_packages"]]
    first = s["repair_rounds"][0]
    assert "libssl3" in first["restored"] and any("libssl.so.3" in e for e in first["evidence"])
    assert all(d["ok"] for d in s["tests"][-1]["drivers"])
    assert not all(d["ok"] for d in s["tests"][1]["drivers"])  # the broken candidate really failed
    removal_log = json.loads((out / "removal-log.json").read_text())
    assert len(removal_log["repair"]["rounds"]) == s["verification"]["rounds"]
    assert "libssl3" not in {p["name"] for p in s["removed_packages"]}

    # CVEs and bytes drop
    v, b, p = s["vulnerabilities"], s["bytes"], s["packages"]
    print(f"\nflask-app: findings {v['before_total']} → {v['after_total']}, bytes {b['before']} → {b['after']}, "
          f"packages {p['before']} → {p['after']}, repairs {s['verification']['repairs']}, "
          f"overhead {s['timings']['overhead']:.1f} s of {s['timings']['total']:.1f} s")
    assert v["after_total"] < v["before_total"] and b["after"] < b["before"] and p["after"] < p["before"]

    # the record: exact layout, verifies with the key, VEX names the hardened image
    assert sorted(x.name for x in out.iterdir()) == sorted(RECORD_FILES)
    chk = verify_record(out, public_key=keypair[1])
    assert chk.trusted_key and chk.image is not None and "sha256:" + chk.image[1] == s["hardened_image"]["digest"]
    vex = json.loads((out / "vex.openvex.json").read_text())
    assert vex["statements"] and all(st["products"][0]["@id"] == s["hardened_image"]["purl"]
                                     for st in vex["statements"])
    hard = {f["id"] for f in json.loads((out / "hardened-scan.json").read_text()).get("findings", [])
            if isinstance(f, dict) and "id" in f}
    assert not hard & {st["vulnerability"]["name"] for st in vex["statements"]}

    # promoted: pushed, and the record attached as an OCI artifact referring to the image
    assert res.pushed and res.push_error is None and res.exit_code == 0
    t = Target.parse(target)
    refs = referrers(t, s["hardened_image"]["digest"])
    assert [r["artifactType"] for r in refs] == [ARTIFACT_TYPE]
    assert fetch_record(t, refs[0]["digest"]) == {x.name: x.read_bytes() for x in out.iterdir()}

    # `honed verify` on the promoted image passes; `honed record push` re-promotes elsewhere (the retry path)
    from honed.cli.main import main

    report = tmp_path / "verify.json"
    assert main(["-q", "verify", flask_image.ref, "--hardened", f"docker://{target}",  # pulled back from the registry
                 "--test", "pytest /app/tests", "--db", str(vulndb), "-o", str(report)]) == 0
    vr = json.loads(report.read_text())
    assert vr["ok"] and vr["vulnerabilities"]["after_total"] == v["after_total"]
    other = f"{registry.host}/honed-it/flask-app-copy:1"
    assert main(["record", "push", str(out), other, "--key", str(keypair[1])]) == 0
    assert len(referrers(Target.parse(other), s["hardened_image"]["digest"])) == 1


def test_refuses_when_the_original_fails_its_tests(flask_image, vulndb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from honed.cli.main import main

    out = tmp_path / "rec"
    code = main(["-q", "pipeline", flask_image.ref, "--test", "python3 -c 'import sys; sys.exit(3)'",
                 "--db", str(vulndb), "--output", str(out)])
    assert code == 3 and not out.exists() and not (tmp_path / "rec-image").exists()
