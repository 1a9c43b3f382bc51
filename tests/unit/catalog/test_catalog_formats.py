"""SBOM formats: valid against the official schemas, deterministic, golden, and the native JSON round-trips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from honed import __version__
from honed.catalog import catalog, native
from honed.catalog._spdx_ids import SPDX_IDS
from honed.cli.main import main
from honed.image.rootfs import DirRootFS
from honed.report import cyclonedx, spdx

from .conftest import DATA, put

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "sbom"
CREATED = "2025-01-01T00:00:00Z"


def cdx_validator(schemas: Path) -> Draft7Validator:
    reg: Registry = Registry()
    for f in (schemas / "cyclonedx").glob("*.json"):
        doc = json.loads(f.read_text())
        res = Resource.from_contents(doc)
        reg = reg.with_resource(doc["$id"], res).with_resource(f.name, res)
    return Draft7Validator(json.loads((schemas / "cyclonedx" / "bom-1.6.schema.json").read_text()), registry=reg)


def spdx_validator(schemas: Path) -> Draft7Validator:
    return Draft7Validator(json.loads((schemas / "spdx" / "spdx-schema.json").read_text()))


@pytest.fixture
def mixed_root(deb_root: Path) -> Path:
    site = "/usr/local/lib/python3.11/dist-packages"
    put(deb_root, f"{site}/Some_Dist.Name-1.2.0.dist-info/METADATA", (DATA / "python" / "METADATA-license-expression").read_bytes())
    put(deb_root, "/app/node_modules/@scope/thing/package.json", (DATA / "npm" / "scoped-package.json").read_bytes())
    put(deb_root, "/app/node_modules/broken/package.json", (DATA / "npm" / "invalid-package.json").read_bytes())
    return deb_root


def _errors(v: Draft7Validator, doc: dict) -> list[str]:  # type: ignore[type-arg]
    return [f"{list(e.path)}: {e.message[:200]}" for e in v.iter_errors(doc)]


def test_cyclonedx_and_spdx_are_schema_valid(mixed_root: Path, schemas: Path) -> None:
    cat = catalog(DirRootFS(mixed_root))
    cdx = cyclonedx.to_dict(cat, created=CREATED)
    assert _errors(cdx_validator(schemas), cdx) == []
    sp = spdx.to_dict(cat, created=CREATED)
    assert _errors(spdx_validator(schemas), sp) == []
    # every package is there, with its purl; tool version in the metadata
    purls = {c.get("purl") for c in cdx["components"]}
    assert {p.purl for p in cat.packages} <= purls
    assert cdx["metadata"]["tools"]["components"][0]["version"] == __version__
    assert cdx["metadata"]["timestamp"] == CREATED
    deps = {d["ref"]: d["dependsOn"] for d in cdx["dependencies"]}
    ids = {p.name: p.id for p in cat.packages}
    assert deps[ids["bash"]] == sorted([ids["base-files"], ids["libc6"]])  # debianutils, libtinfo6 absent
    assert sp["creationInfo"]["creators"] == [f"Tool: honed-{__version__}"]
    # LicenseRef- ids used in SPDX are declared
    declared = {x["licenseId"] for x in sp.get("hasExtractedLicensingInfos", [])}
    used = {t for p in sp["packages"] for t in p["licenseDeclared"].replace("(", " ").replace(")", " ").split()
            if t.startswith("LicenseRef-")}
    assert used and used <= declared


def test_spdx_id_table_matches_the_schema(schemas: Path) -> None:
    enum = set(json.loads((schemas / "cyclonedx" / "spdx.schema.json").read_text())["enum"])
    assert SPDX_IDS == enum


def test_deterministic_without_a_clock(mixed_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = catalog(DirRootFS(mixed_root))
    b = catalog(DirRootFS(mixed_root))
    assert cyclonedx.dumps(a) == cyclonedx.dumps(b)
    assert "timestamp" not in cyclonedx.to_dict(a)["metadata"]
    assert spdx.dumps(a) == spdx.dumps(b)
    assert spdx.to_dict(a)["creationInfo"]["created"] == "1970-01-01T00:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert cyclonedx.to_dict(a)["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"


def test_native_json_round_trips(mixed_root: Path, tmp_path: Path) -> None:
    cat = catalog(DirRootFS(mixed_root))
    f = tmp_path / "cat.json"
    f.write_text(native.dumps(cat))
    back = native.load(f)
    assert back.packages == cat.packages
    assert back.problems == cat.problems
    assert back.distro == cat.distro
    assert native.dumps(back) == native.dumps(cat)
    for q in ("/bin/bash", "/usr/bin/bash", "/bin", "/usr/bin/sh", "/lib64/ld-linux-x86-64.so.2"):
        assert back.ownership.owners(q) == cat.ownership.owners(q), q
    assert back.ownership.package_dirs == cat.ownership.package_dirs


def test_native_json_rejects_other_documents(tmp_path: Path) -> None:
    from honed.errors import UserError

    f = tmp_path / "x.json"
    f.write_text('{"bomFormat": "CycloneDX"}')
    with pytest.raises(UserError, match="not a honed catalog"):
        native.load(f)


def _redact(text: str) -> str:
    return text.replace(f"honed-{__version__}", "honed-VERSION").replace(f'"version": "{__version__}"', '"version": "VERSION"')


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json"])
def test_golden(mixed_root: Path, fmt: str) -> None:
    from honed.cli.cmd_sbom import render

    got = _redact(render(catalog(DirRootFS(mixed_root)), fmt, created=CREATED))
    path = GOLDEN / f"mini-debian.{fmt}"
    if os.environ.get("HONED_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert got == path.read_text(), f"regenerate with HONED_UPDATE_GOLDEN=1 if the change is intended ({path})"


def test_cli_sbom_outputs_and_strict(mixed_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    rc = main(["sbom", f"dir:{mixed_root}", "-o", f"cyclonedx-json={out}.cdx.json", "-o", f"json={out}.json",
               "-o", "table"])
    assert rc == 0
    cap = capsys.readouterr()
    assert "libc6" in cap.out and "2.36-9+deb12u14" in cap.out
    assert "/app/node_modules/broken/package.json" in cap.err  # problems are reported, run succeeds
    assert json.loads(Path(f"{out}.cdx.json").read_text())["bomFormat"] == "CycloneDX"
    assert len(native.load(f"{out}.json").packages) == 8
    assert main(["sbom", f"dir:{mixed_root}", "-o", "json", "--strict"]) == 3
    assert "--strict" in capsys.readouterr().err


def test_cli_sbom_converts_a_saved_catalog(mixed_root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "cat.json"
    assert main(["sbom", f"dir:{mixed_root}", "-o", f"json={saved}", "-o", f"spdx-json={tmp_path / 'a.spdx'}",
                 "--created", CREATED]) == 0
    assert main(["sbom", str(saved), "-o", f"spdx-json={tmp_path / 'b.spdx'}", "--created", CREATED]) == 0
    assert (tmp_path / "a.spdx").read_bytes() == (tmp_path / "b.spdx").read_bytes()
    (tmp_path / "other.json").write_text("{}")
    assert main(["sbom", str(tmp_path / "other.json")]) == 3


def test_cli_sbom_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", f"dir:{tmp_path}", "--catalogers", "nosuch"]) == 3
    assert "unknown cataloger selection 'nosuch'" in capsys.readouterr().err
    assert main(["sbom", f"dir:{tmp_path}", "-o", "xml"]) == 3
    assert main(["sbom", f"dir:{tmp_path / 'missing'}"]) == 3
    assert main(["sbom", f"dir:{tmp_path}", "--created", "yesterday"]) == 3
    assert "RFC 3339" in capsys.readouterr().err


def test_cli_created_is_normalised(mixed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", f"dir:{mixed_root}", "-o", "cyclonedx-json", "--created", "2024-06-01T12:00:00+02:00"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["timestamp"] == "2024-06-01T10:00:00Z"
