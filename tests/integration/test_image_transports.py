"""honed inspect against skopeo inspect on real images in every transport, the content cache for pulled
images, and images written by honed run under podman and read by skopeo."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from honed.cli.main import main
from honed.image import open_image
from honed.image.writer import write_image

pytestmark = pytest.mark.slow


def _skopeo(*args: str) -> bytes:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=300).stdout


def _honed_inspect(ref: str, tmp: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    out = tmp / f"inspect-{hashlib.sha1(ref.encode()).hexdigest()[:8]}.json"
    assert main(["inspect", ref, "-o", "json", "--file", str(out), *extra]) == 0
    return json.loads(out.read_text())


def _assert_same(h: dict, ref: str, *tls: str) -> None:  # type: ignore[type-arg]
    s = json.loads(_skopeo("inspect", *tls, ref))
    raw = json.loads(_skopeo("inspect", "--raw", *tls, ref))
    assert h["manifest_digest"] == s["Digest"]
    assert [lyr["digest"] for lyr in h["layers"]] == s["Layers"]
    assert [lyr["size"] for lyr in h["layers"]] == [lyr["size"] for lyr in raw["layers"]]
    assert h["config_digest"] == raw["config"]["digest"]
    assert h["platform"] == f"{s['Os']}/{s['Architecture']}"
    assert h["config"]["env"] == s["Env"]
    assert h["config"]["labels"] == (s["Labels"] or {})


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "images"


def test_inspect_equals_skopeo_oci_layout_archive_docker_archive(minimal_image, tmp_path: Path, cache: Path) -> None:  # type: ignore[no-untyped-def]
    h = _honed_inspect(minimal_image.ref, tmp_path)
    _assert_same(h, minimal_image.ref)
    assert h["os"]["id"] == "debian" and h["os"]["version_id"] == "12"
    assert h["size"]["unpacked"] > h["size"]["compressed"] > 10_000_000
    archive = tmp_path / "min.oci.tar"
    _skopeo("copy", "-q", minimal_image.ref, f"oci-archive:{archive}:latest")
    before = archive.stat().st_mtime_ns, hashlib.sha256(archive.read_bytes()).hexdigest()
    ha = _honed_inspect(f"oci-archive:{archive}", tmp_path)
    _assert_same(ha, f"oci-archive:{archive}")
    assert ha["manifest_digest"] == h["manifest_digest"]
    assert (archive.stat().st_mtime_ns, hashlib.sha256(archive.read_bytes()).hexdigest()) == before
    dock = minimal_image.docker_archive()
    hd = _honed_inspect(f"docker-archive:{dock}", tmp_path)
    _assert_same(hd, f"docker-archive:{dock}")
    assert hd["os"] == h["os"]
    # the docker-archive's filesystem equals the OCI layout's
    a = open_image(minimal_image.ref).rootfs()
    b = open_image(f"docker-archive:{dock}").rootfs()
    assert a.read_bytes("/etc/debian_version") == b.read_bytes("/etc/debian_version")
    assert sum(1 for _ in a.walk("/")) == sum(1 for _ in b.walk("/"))


def test_registry_inspect_equals_skopeo_and_pull_is_cached(minimal_image, registry, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref = registry.ref("honed-image-test/minimal", "v1")
    _skopeo("copy", "-q", "--dest-tls-verify=false", minimal_image.ref, ref)
    h = _honed_inspect(ref, tmp_path)  # 127.0.0.1: TLS verification off without being asked
    _assert_same(h, ref, "--tls-verify=false")
    pulled = list((cache / "pulled").iterdir())
    assert len(pulled) == 1
    stamp = pulled[0].stat().st_mtime_ns
    caplog.set_level("INFO", logger="honed.image.image")
    img = open_image(ref)
    assert "using cached copy" in caplog.text
    assert img.manifest_digest == h["manifest_digest"]
    assert [p.stat().st_mtime_ns for p in (cache / "pulled").iterdir()] == [stamp]
    # an image that is not there: one readable error, exit 3
    assert main(["inspect", registry.ref("honed-image-test/nope", "v1")]) == 3


def _podman_env() -> dict[str, str]:
    from tests.fixtures.build import podman_env

    return podman_env()


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], env=_podman_env(), capture_output=True, text=True, timeout=300,
                          check=check)


def test_written_image_runs_under_podman_and_skopeo_reads_it(minimal_image, registry, cache: Path) -> None:  # type: ignore[no-untyped-def]
    base = open_image(minimal_image.ref)
    # podman names an oci: image after its path, which must be a lowercase repository name
    work = Path(tempfile.mkdtemp(prefix="honed-image-test-", dir="/tmp"))
    ids: list[str] = []
    try:
        dest = work / "hardened"
        kw = dict(drop_paths=["/usr/share/doc", "/usr/share/man"], replace_files={"/etc/motd": b"honed\n"},
                  labels={"org.honed.test": "1"}, history="honed test")
        ref = write_image(base, f"oci:{dest}:hard", **kw)  # type: ignore[arg-type]
        s = json.loads(_skopeo("inspect", f"oci:{dest}:hard"))
        assert s["Digest"] == ref.digest
        assert s["Labels"]["org.honed.test"] == "1"
        assert len(s["Layers"]) == len(base.layers) + 1
        out = open_image(f"oci:{dest}:hard")
        assert out.layers[0].size < base.layers[0].size  # the bytes a user pulls shrink
        ids.append(out.config_digest.split(":")[1])  # podman's image id: removes every name it got
        r = _podman("run", "--rm", "--entrypoint", "/bin/sh", f"oci:{dest}:hard", "-c",
                    "cat /etc/motd; test -e /usr/share/doc || echo nodoc; ls /usr/bin/dpkg")
        assert r.stdout.split() == ["honed", "nodoc", "/usr/bin/dpkg"], r.stderr
        # same input, same digest
        again = write_image(base, f"oci:{work / 'again'}:hard", **kw)  # type: ignore[arg-type]
        assert again.digest == ref.digest
        # docker-archive: loadable by podman
        darch = work / "hard.docker.tar"
        dref = write_image(out, f"docker-archive:{darch}:honed-image-test/hard:v1")
        assert open_image(dref).manifest_digest == dref.digest == json.loads(
            _skopeo("inspect", f"docker-archive:{darch}"))["Digest"]
        loaded = _podman("load", "-q", "-i", str(darch)).stdout.strip()
        assert loaded.endswith("honed-image-test/hard:v1"), loaded
        r = _podman("run", "--rm", "--entrypoint", "/bin/cat", loaded.split()[-1], "/etc/motd")
        assert r.stdout == "honed\n"
        # registry: pushed as written, digest preserved
        pushed = write_image(out, registry.ref("honed-image-test/hard", "v1"))
        assert pushed.digest == ref.digest
        assert open_image(pushed).manifest_digest == ref.digest
        s = json.loads(_skopeo("inspect", "--tls-verify=false", registry.ref("honed-image-test/hard", "v1")))
        assert s["Digest"] == ref.digest
    finally:
        for i in ids:
            _podman("rmi", "-f", i, check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_extraction_matches_umoci(minimal_image, tmp_path: Path, cache: Path) -> None:  # type: ignore[no-untyped-def]
    """An independent unpacker agrees with ours on every path, type, mode, owner, size and link target."""
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", minimal_image.ref.removeprefix("oci:"), str(bundle)],
                   check=True, capture_output=True, timeout=300)
    ours = open_image(minimal_image.ref).rootfs().root

    def listing(root: Path) -> dict[str, tuple]:  # type: ignore[type-arg]
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                s = p.lstat()
                rel = str(p.relative_to(root))
                if rel.startswith("dev/"):
                    continue  # device nodes are skipped by design
                link = os.readlink(p) if p.is_symlink() else None
                out[rel] = (s.st_mode, s.st_uid, s.st_gid, s.st_size if p.is_file() and not link else 0, link)
        return out

    assert listing(ours) == listing(bundle / "rootfs")


def test_containers_storage_pulled_once_into_cache(tmp_path: Path, cache: Path) -> None:
    """Engine storage is read through skopeo into the cache; its layers come back uncompressed, so the
    digest of what honed verifies differs from the stored one, which is kept as source_digest."""
    from tests.fixtures.synth import file, write_oci

    layout = write_oci(tmp_path / "img", [[file("etc/os-release", "ID=debian\n"), file("bin/x", "1")]])
    name = f"localhost/honed-image-test/cs-{os.getpid()}:v1"
    _skopeo("copy", "-q", f"oci:{layout}:latest", f"containers-storage:{name}")
    try:
        ref = f"containers-storage:{name}"
        h = _honed_inspect(ref, tmp_path)
        s = json.loads(_skopeo("inspect", ref))
        assert h["source_digest"] == s["Digest"]
        assert h["os"]["id"] == "debian"
        img = open_image(ref)
        assert img.rootfs().read_bytes("/bin/x") == b"1"
        assert len(list((cache / "pulled").iterdir())) == 1
    finally:
        _podman("rmi", "-f", name, check=False)


def test_registry_docker_schema2_image(registry, tmp_path: Path, cache: Path) -> None:  # type: ignore[no-untyped-def]
    """A Docker schema-2 manifest (what most registries serve) is read as served, digest included."""
    from tests.fixtures.synth import file, symlink, write_oci

    layout = write_oci(tmp_path / "img", [[file("usr/lib/os-release", "ID=debian\nVERSION_ID=12\n"),
                                           symlink("etc/os-release", "../usr/lib/os-release")],
                                          [file("app/a", "1")]])
    ref = registry.ref("honed-image-test/v2s2", "v1")
    _skopeo("copy", "-q", "--format", "v2s2", "--dest-tls-verify=false", f"oci:{layout}:latest", ref)
    h = _honed_inspect(ref, tmp_path)
    _assert_same(h, ref, "--tls-verify=false")
    assert h["manifest_media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert h["os"]["version_id"] == "12"
    img = open_image(ref)
    assert img.rootfs().read_bytes("/app/a") == b"1"
    # written to an OCI layout unchanged: an OCI manifest (skopeo/podman read no other kind there) over the
    # same config and layer blobs, the same digest every time
    out = write_image(img, f"oci:{tmp_path / 'back'}:v1")
    assert write_image(img, f"oci:{tmp_path / 'back2'}:v1").digest == out.digest
    s = json.loads(_skopeo("inspect", f"oci:{tmp_path / 'back'}:v1"))
    assert s["Digest"] == out.digest and s["Layers"] == [lyr["digest"] for lyr in h["layers"]]
    back = open_image(f"oci:{tmp_path / 'back'}:v1")
    assert back.config_digest == h["config_digest"]
    assert back.manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
