"""`honed harden` on the real fixture images, profiled with honed's own profiler running the apps' test suites.

After hardening: honed's rescan and syft's both show the removed packages gone and every kept package there;
the hardened file list is the original's minus the removed paths, exactly; the app's own suite passes in the
hardened image (podman); the same inputs give the same digest; bad input is refused. Figures are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from honed.cli.main import main

pytestmark = pytest.mark.slow

SUITES = {
    "flask-app": (
        "flask_image",
        "pytest /app/tests",
        ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "/app/tests"],
    ),
    "node-app": ("node_image", "node --test /app/test/", ["node", "--test", "/app/test/"]),
}
SYFT_TYPES = {"deb": "deb", "pypi": "python", "npm": "npm"}


@dataclass
class Hardened:
    name: str
    image: object  # FixtureImage
    work: Path
    usage: Path
    dest: str
    digest: str
    log: dict  # type: ignore[type-arg]
    analysis: dict  # type: ignore[type-arg]


def _harden(ref: str, usage: Path, db: Path, dest: str, *extra: str) -> int:
    return main(["-q", "harden", ref, "--usage", str(usage), "--db", str(db), "-o", dest, *extra])


@pytest.fixture(scope="module", params=sorted(SUITES))
def hardened(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, vulndb: Path
) -> Hardened:
    from honed.profile import ProfileOptions, profile

    name = request.param
    fixture, test_cmd, _ = SUITES[name]
    img = request.getfixturevalue(fixture)
    work = tmp_path_factory.mktemp(f"harden-{name}")
    usage = profile(img.ref, ProfileOptions(tests=(test_cmd,)))
    usage.write(work / "usage.json")
    dest = f"oci:{work / 'out'}:hardened"
    rc = _harden(
        img.ref,
        work / "usage.json",
        vulndb,
        dest,
        "--removal-log",
        str(work / "removal-log.json"),
        "--analysis",
        str(work / "analysis.json"),
    )
    assert rc == 0
    index = json.loads((work / "out" / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    return Hardened(
        name,
        img,
        work,
        work / "usage.json",
        dest,
        digest,
        json.loads((work / "removal-log.json").read_text()),
        json.loads((work / "analysis.json").read_text()),
    )


def test_honed_rescan_matches_the_plan(hardened: Hardened) -> None:
    from honed.catalog import catalog_image

    after = {p.id for p in catalog_image(hardened.dest).packages}
    kept = {k["id"] for k in hardened.analysis["kept"]}
    removed = {r["id"] for r in hardened.log["removed"]}
    assert removed and not (removed & after)
    assert kept <= after, sorted(kept - after)[:10]
    assert after == kept, sorted(after - kept)[:10]


def _syft(target: str) -> set[tuple[str, str, str, str]]:
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    syft = str(Path(sys.executable).with_name("syft"))
    out = subprocess.run(
        [syft, "scan", target, "-o", "json", "-q"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return {
        (a["type"], a["name"], a["version"], a["locations"][0]["path"] if a["locations"] else "")
        for a in json.loads(out)["artifacts"]
    }


def test_syft_rescan_shows_removed_gone_and_kept_there(hardened: Hardened) -> None:
    before = _syft(f"oci-dir:{hardened.image.oci_dir}")  # type: ignore[attr-defined]
    after = _syft(f"oci-dir:{hardened.work / 'out'}")

    def keyed(entries: list[dict]) -> set[tuple[str, str, str]]:  # type: ignore[type-arg]
        return {
            (SYFT_TYPES[e["ecosystem"]], e["name"], e["version"])
            for e in entries
            if e["ecosystem"] in SYFT_TYPES
        }

    removed, kept = keyed(hardened.log["removed"]), keyed(hardened.analysis["kept"])
    # the same name and version may be installed twice (a Debian-packaged node module and one in /app):
    # compare what syft saw per (type, name, version) at the locations honed's decision covers
    by_key_before: dict[tuple[str, str, str], set[str]] = {}
    for t, n, v, loc in before:
        by_key_before.setdefault((t, n, v), set()).add(loc)
    by_key_after: dict[tuple[str, str, str], set[str]] = {}
    for t, n, v, loc in after:
        by_key_after.setdefault((t, n, v), set()).add(loc)
    for key in kept & set(by_key_before):
        assert key in by_key_after, f"syft lost kept package {key}"
    for key in removed - kept:
        assert key not in by_key_after, f"syft still sees removed package {key} at {by_key_after[key]}"
    assert len(after) < len(before) / 2


def _walk(ref: str) -> set[str]:
    from honed.image import open_image

    return {i.path for i in open_image(ref).rootfs().walk("/")}


def test_file_list_is_original_minus_removed(hardened: Hardened) -> None:
    before = _walk(hardened.image.ref)  # type: ignore[attr-defined]
    after = _walk(hardened.dest)
    dropped = {f for r in hardened.log["removed"] for f in r["files"]}
    assert dropped and dropped <= before
    assert after == before - dropped
    assert hardened.log["summary"]["files_removed"] == len(dropped)


def test_app_suite_passes_in_hardened_image(hardened: Hardened, podman: list[str]) -> None:
    from tests.fixtures.build import podman_env

    argv = SUITES[hardened.name][2]
    r = subprocess.run(
        [*podman, "run", "--rm", "--network=none", f"oci:{hardened.work / 'out'}:hardened", *argv],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_figures_before_and_after(hardened: Hardened, vulndb: Path) -> None:
    from honed.image import open_image
    from honed.vuln.db import open_db
    from honed.vuln.scan import scan

    def figures(ref: str) -> tuple[int, int, int]:
        img = open_image(ref)
        with open_db(vulndb) as db:
            res = scan(ref, db)
        cves = len({f.advisory.id for f in res.findings if not f.suppressed_by})
        unpacked = sum(i.size for i in img.rootfs().walk("/") if i.kind == "file")
        return cves, sum(layer.size for layer in img.layers), unpacked

    b, a = figures(hardened.image.ref), figures(hardened.dest)  # type: ignore[attr-defined]
    print(
        f"\n{hardened.name}: CVEs {b[0]} → {a[0]}; download {b[1] / 1e6:.1f} → {a[1] / 1e6:.1f} MB; "
        f"unpacked {b[2] / 1e6:.1f} → {a[2] / 1e6:.1f} MB; packages removed "
        f"{hardened.log['summary']['packages_removed']}"
    )
    assert a[0] < b[0] and a[1] < b[1] and a[2] < b[2]
    assert b[0] - a[0] <= hardened.log["summary"]["cves_removed"]


def test_same_inputs_same_digest_and_refusals(
    hardened: Hardened, vulndb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = hardened.image.ref  # type: ignore[attr-defined]
    again = f"oci:{hardened.work / 'again'}:hardened"
    assert _harden(ref, hardened.usage, vulndb, again) == 0
    index = json.loads((hardened.work / "again" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == hardened.digest
    manifest = json.loads(
        (hardened.work / "again" / "blobs" / "sha256" / hardened.digest.split(":")[1]).read_text()
    )
    ann = manifest.get("annotations") or {}
    assert ann.get("org.opencontainers.image.base.digest", "").startswith("sha256:")
    assert ann.get("dev.honed.preset") == "aggressive"
    if hardened.name != "flask-app":  # the refusals below do not depend on the image
        return
    capsys.readouterr()
    # an existing destination is refused without --force, replaced with it
    assert _harden(ref, hardened.usage, vulndb, again) == 3
    assert "already exists" in capsys.readouterr().err
    assert _harden(ref, hardened.usage, vulndb, again, "--force") == 0
    # a keep entry naming no package: an error with close matches
    assert _harden(ref, hardened.usage, vulndb, f"oci:{hardened.work / 'x'}:t", "--keep", "libssl") == 3
    err = capsys.readouterr().err
    assert "libssl" in err and "did you mean" in err
    # a usage report from another image
    doc = json.loads(hardened.usage.read_text())
    doc["image"]["digest"] = "sha256:" + "0" * 64
    other = hardened.work / "other-usage.json"
    other.write_text(json.dumps(doc))
    assert _harden(ref, other, vulndb, f"oci:{hardened.work / 'y'}:t") == 3
    assert "usage report was recorded for image sha256:000" in capsys.readouterr().err
    assert not (hardened.work / "x").exists() and not (hardened.work / "y").exists()


def test_files_mode_drops_untouched_files_and_suite_still_passes(hardened: Hardened, vulndb: Path,
                                                                 podman: list[str]) -> None:
    if hardened.name != "flask-app":  # one image is enough: the mode's rules do not depend on the app
        return
    from tests.fixtures.build import podman_env

    dest = f"oci:{hardened.work / 'files'}:hardened"
    log_path = hardened.work / "files-log.json"
    assert _harden(hardened.image.ref, hardened.usage, vulndb, dest, "--mode", "files",  # type: ignore[attr-defined]
                   "--removal-log", str(log_path)) == 0
    log = json.loads(log_path.read_text())
    assert log["mode"] == "files" and log["summary"]["files_trimmed_in_kept_packages"] > 100
    trimmed = {f for t in log["trimmed"] for f in t["files"]}
    touched = set(json.loads(hardened.usage.read_text())["runs"][0]["paths"])
    assert not (trimmed & touched)
    after = _walk(dest)
    assert not (trimmed & after) and log["summary"]["bytes_removed"] > hardened.log["summary"]["bytes_removed"]
    # exactly the profiled command: files mode keeps only what was touched (`python3 -m pytest` would need
    # pytest/__main__.py, which the profiled `pytest` entry script never opened)
    r = subprocess.run([*podman, "run", "--rm", "--network=none", f"oci:{hardened.work / 'files'}:hardened",
                        *SUITES[hardened.name][1].split()], env=podman_env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "platform independent libraries" not in r.stderr


def test_registry_destination(hardened: Hardened, vulndb: Path, registry, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    if hardened.name != "flask-app":  # the transport does not depend on the image
        return
    ref = hardened.image.ref  # type: ignore[attr-defined]
    dest = registry.ref("harden/flask", "hardened")
    assert _harden(ref, hardened.usage, vulndb, dest) == 0
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", dest], check=True,
                         capture_output=True).stdout
    import hashlib

    assert "sha256:" + hashlib.sha256(out).hexdigest() == hardened.digest  # the same image as the OCI layout
    capsys.readouterr()
    assert _harden(ref, hardened.usage, vulndb, dest) == 3
    assert "already exists" in capsys.readouterr().err
    assert _harden(ref, hardened.usage, vulndb, dest, "--force") == 0
