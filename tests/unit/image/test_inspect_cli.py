"""`honed inspect` on synthetic images in each local transport, and native docker-archive reading."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.fixtures.synth import file, symlink, write_oci

from honed.cli.main import main
from honed.image import open_image


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))
    return write_oci(
        tmp_path / "img",
        [[file("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
          symlink("etc/os-release", "../usr/lib/os-release")],
         [file("app/x", "y" * 5000)]],
        config={"Entrypoint": ["/app/x"], "Cmd": ["--serve"], "WorkingDir": "/app", "User": "1000",
                "ExposedPorts": {"8080/tcp": {}}, "Labels": {"b": "2", "a": "1"}},
        history=["RUN debootstrap", "COPY app /app"],
    )


def _json(ref: str, tmp: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["inspect", ref, "-o", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_json(layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _json(f"oci:{layout}:latest", tmp_path, capsys)
    img = open_image(f"oci:{layout}")
    assert d["manifest_digest"] == img.manifest_digest
    assert d["platform"] == "linux/amd64"
    assert d["os"] == {"id": "debian", "version_id": "12", "codename": None,
                       "pretty_name": "Debian GNU/Linux 12 (bookworm)"}
    assert d["config"] == {"entrypoint": ["/app/x"], "cmd": ["--serve"], "env": ["PATH=/usr/bin:/bin"],
                           "workdir": "/app", "user": "1000", "exposed_ports": ["8080/tcp"],
                           "labels": {"a": "1", "b": "2"}}
    assert [lyr["created_by"] for lyr in d["layers"]] == ["RUN debootstrap", "COPY app /app"]
    assert [lyr["digest"] for lyr in d["layers"]] == [lyr.digest for lyr in img.layers]
    assert d["size"]["compressed"] == sum(lyr.size for lyr in img.layers)
    assert d["layers"][1]["unpacked_size"] >= 5000 + 512
    assert d["size"]["unpacked"] == sum(lyr["unpacked_size"] for lyr in d["layers"])
    # inspect never extracts
    assert not (tmp_path / "cache" / "images" / "rootfs").exists()


def test_inspect_table(layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", f"oci:{layout}"]) == 0
    out = capsys.readouterr().out
    assert "Debian GNU/Linux 12 (bookworm)" in out and "8080/tcp" in out and "COPY app /app" in out
    assert open_image(f"oci:{layout}").manifest_digest in out


def test_inspect_bad_reference_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "docker:nope"]) == 3
    assert "invalid image reference" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo to make the archives")
def test_docker_and_oci_archives_read_natively(layout: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    darch, oarch = tmp_path / "d.tar", tmp_path / "o.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:latest", f"docker-archive:{darch}:synth/img:v1"],
                   check=True)
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:latest", f"oci-archive:{oarch}:v1"], check=True)
    for ref in (f"docker-archive:{darch}", f"docker-archive:{darch}:synth/img:v1", f"oci-archive:{oarch}:v1"):
        d = _json(ref, tmp_path, capsys)
        sk = json.loads(subprocess.run(["skopeo", "inspect", ref], check=True, capture_output=True).stdout)
        assert d["manifest_digest"] == sk["Digest"]
        assert [lyr["digest"] for lyr in d["layers"]] == sk["Layers"]
        assert d["os"]["id"] == "debian"
    fs = open_image(f"docker-archive:{darch}").rootfs()
    assert fs.read_bytes("/etc/os-release").startswith(b"ID=debian")
    assert fs.read_bytes("/app/x") == b"y" * 5000


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_docker_archive_base_written_as_honest_oci(layout: Path, tmp_path: Path) -> None:
    from honed.image.writer import write_image

    darch = tmp_path / "d.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:latest", f"docker-archive:{darch}"], check=True)
    base = open_image(f"docker-archive:{darch}")
    a = write_image(base, f"oci:{tmp_path / 'out'}:t")
    b = write_image(base, f"oci:{tmp_path / 'out2'}:t")
    assert a.digest == b.digest
    raw = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'out'}:t"], check=True,
                                    capture_output=True).stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {lyr["mediaType"] for lyr in raw["layers"]} == {"application/vnd.oci.image.layer.v1.tar"}
    out = open_image(f"oci:{tmp_path / 'out'}:t")
    assert out.rootfs().read_bytes("/app/x") == b"y" * 5000


def test_multi_platform_index_picks_linux_amd64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.synth import put_blob

    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))
    lay = tmp_path / "multi"
    descs = []
    for arch in ("arm64", "amd64", "s390x"):
        def set_arch(c: dict[str, object], a: str = arch) -> None:
            c["architecture"] = a

        one = write_oci(tmp_path / arch, [[file("arch", arch)]], mutate_config=set_arch)
        d = json.loads((one / "index.json").read_text())["manifests"][0]
        d.pop("annotations")
        d["platform"] = {"os": "linux", "architecture": arch}
        descs.append(d)
        shutil.copytree(one / "blobs", lay / "blobs", dirs_exist_ok=True)
    inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": descs}).encode()
    idx_digest = put_blob(lay, inner)
    (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (lay / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_digest, "size": len(inner),
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    img = open_image(f"oci:{lay}:multi")
    assert img.platform == "linux/amd64" and img.index_digest == idx_digest
    assert img.read_files(("/arch",)) == {"/arch": b"amd64"}
    assert open_image(f"oci:{lay}:multi", platform="linux/arm64").read_files(("/arch",)) == {"/arch": b"arm64"}
    from honed.errors import ManifestError

    with pytest.raises(ManifestError, match="no linux/riscv64 image.*linux/amd64"):
        open_image(f"oci:{lay}:multi", platform="linux/riscv64")


def test_docker_save_legacy_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker save` (before 25): manifest.json names <id>/layer.tar; a later layer's file may be a symlink
    to an identical earlier one; config is <hex>.json."""
    import hashlib
    import io
    import tarfile

    from tests.fixtures.synth import layer_tar

    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))
    l1 = layer_tar([file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"), file("bin/busybox", "bb")])
    l2 = layer_tar([file("app/run", "go")])
    ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in (l1, l2, l1)]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app/run"]},
                      "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["example/app:1"],
                            "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"]}]).encode()
    arch = tmp_path / "save.tar"
    with tarfile.open(arch, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        add("aaa/layer.tar", l1)
        add("bbb/layer.tar", l2)
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tf.addfile(link)
        add(cfg_name, cfg)
        add("manifest.json", manifest)
    for ref in (f"docker-archive:{arch}", f"docker-archive:{arch}:example/app:1"):
        img = open_image(ref)
        assert [lyr.diff_id for lyr in img.layers] == ids
        assert img.read_files(("/etc/os-release",))["/etc/os-release"].startswith(b"ID=alpine")
    fs = open_image(f"docker-archive:{arch}").rootfs()
    assert fs.read_bytes("/app/run") == b"go" and fs.read_bytes("/bin/busybox") == b"bb"
    from honed.errors import ManifestError

    with pytest.raises(ManifestError, match="no image 'other:2'"):
        open_image(f"docker-archive:{arch}:other:2")
