"""The fixture images are what they promise: real OCI layouts, layered, runnable, with their suites passing.

Checked with independent tools only (skopeo, podman, tarfile), since honed's reader is tested against them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from tests.fixtures import build
from tests.fixtures.build import FixtureImage, ensure, podman_env

pytestmark = pytest.mark.slow

LAYERS = {"minimal": 1, "flask-app": 2, "node-app": 2, "nginx-site": 2}


@pytest.fixture(scope="module", params=build.NAMES)
def image(request: pytest.FixtureRequest) -> FixtureImage:
    return ensure(request.param)


def _skopeo_inspect(ref: str, *extra: str, raw: bool = False) -> dict:
    out = subprocess.run(["skopeo", "inspect", *extra, *(["--raw"] if raw else []), ref],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _config(img: FixtureImage) -> dict:
    return _skopeo_inspect(img.ref, "--config")


def _layer_paths(img: FixtureImage) -> list[Path]:
    manifest = _skopeo_inspect(img.ref, raw=True)
    return [img.oci_dir / "blobs" / "sha256" / layer["digest"].split(":", 1)[1] for layer in manifest["layers"]]


def test_is_an_oci_layout_with_promised_layers(image: FixtureImage) -> None:
    layout = json.loads((image.oci_dir / "oci-layout").read_text())
    assert layout["imageLayoutVersion"] == "1.0.0"
    info = _skopeo_inspect(image.ref)
    assert len(info["Layers"]) == LAYERS[image.name]
    assert info["Os"] == "linux" and info["Architecture"] == "amd64"
    # Every blob is where the manifest says and hashes to its name.
    for blob in _layer_paths(image):
        h = hashlib.sha256()
        with open(blob, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        assert h.hexdigest() == blob.name
    assert image.info["layers"] == LAYERS[image.name]
    assert image.info["dpkg_packages"] >= 80


def test_all_images_share_the_debian_base_layer() -> None:
    firsts = {name: _skopeo_inspect(ensure(name).ref)["Layers"][0] for name in build.NAMES}
    assert len(set(firsts.values())) == 1, firsts


def test_config_matches_the_recipe(image: FixtureImage) -> None:
    recipe = build.RECIPES[image.name]
    cfg = _config(image)["config"]
    assert cfg.get("Cmd") == list(recipe.cmd)
    assert sorted(cfg.get("ExposedPorts", {})) == sorted(recipe.ports)
    assert cfg.get("WorkingDir", "") == (recipe.workdir or "")
    assert any(e.startswith("PATH=") for e in cfg["Env"])


@functools.cache
def _host_only_certs() -> tuple[set[bytes], bytes]:
    """Lines of the certificates in the host bundle that Debian's ca-certificates does not ship (the
    intercepting proxy's CA), and the host bundle's own hash."""
    host = build.HOST_CA.read_bytes()
    certs = host.split(b"-----END CERTIFICATE-----")
    img_bundle = ensure("flask-app")  # has Debian's ca-certificates
    inside = b""
    for blob in _layer_paths(img_bundle):
        with tarfile.open(blob, "r:gz") as tf:
            for m in tf:
                if m.name.lstrip("./") == "etc/ssl/certs/ca-certificates.crt" and m.isfile():
                    inside = tf.extractfile(m).read()  # type: ignore[union-attr]
    assert inside, "flask-app has no CA bundle"
    markers = set()
    for cert in certs:
        body = b"".join(cert.split(b"-----BEGIN CERTIFICATE-----")[-1].split())
        if len(body) > 200 and body not in b"".join(inside.split()):
            base64.b64decode(body)  # it is a certificate body
            markers.add(body[64:128])  # a line from the middle: unique to the certificate
    return markers, hashlib.sha256(host).digest()


def test_build_secrets_and_caches_did_not_leak(image: FixtureImage) -> None:
    markers, host_hash = _host_only_certs()
    offenders = []
    for blob in _layer_paths(image):
        with tarfile.open(blob, "r:gz") as tf:
            for m in tf:
                name = m.name.lstrip("./")
                if m.ischr() or m.isblk():
                    offenders.append(f"device node {name}")
                if "honed-build-ca" in name:
                    offenders.append(f"build CA file {name}")
                if (name.startswith(("tmp/", "var/tmp/", "var/lib/apt/lists/", "root/.npm/", "root/.cache/"))
                        and m.isfile()):
                    offenders.append(f"cache/temp file {name}")
                if name.startswith("var/cache/apt/") and name.endswith((".bin", ".deb")):
                    offenders.append(f"apt cache {name}")
                if name == "etc/resolv.conf" and m.size:
                    offenders.append("non-empty resolv.conf")
                if m.isfile() and m.size:
                    data = tf.extractfile(m).read()  # type: ignore[union-attr]
                    if hashlib.sha256(data).digest() == host_hash:
                        offenders.append(f"host CA bundle copied to {name}")
                    compact = b"".join(data.split()) if b"CERTIFICATE" in data else b""
                    if compact and any(mk in compact for mk in markers):
                        offenders.append(f"host-only CA certificate in {name}")
    assert not offenders, offenders


def test_docker_archive_has_the_same_layers() -> None:
    img = ensure("minimal")
    archive = img.docker_archive()
    assert archive.is_file() and archive == img.docker_archive()
    a = _skopeo_inspect(f"docker-archive:{archive}", "--config")
    b = _skopeo_inspect(img.ref, "--config")
    assert a["rootfs"]["diff_ids"] == b["rootfs"]["diff_ids"]


def test_registry_fixture_serves_pushed_images(registry) -> None:  # type: ignore[no-untyped-def]
    img = ensure("minimal")
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", img.ref, registry.ref("fixtures/minimal")],
                   check=True, capture_output=True)
    remote = _skopeo_inspect(registry.ref("fixtures/minimal"), "--tls-verify=false")
    local = _skopeo_inspect(img.ref)
    assert remote["Layers"] == local["Layers"]
    with urllib.request.urlopen(f"{registry.url}/v2/_catalog", timeout=5) as resp:
        assert "fixtures/minimal" in json.load(resp)["repositories"]


def _podman(podman: list[str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*podman, *args], env=podman_env(), capture_output=True, text=True, timeout=timeout)


def _pulled(podman: list[str], img: FixtureImage) -> str:
    """Copies the image into podman's storage first (the slow part under load), so that a failing `run`
    says something about the image, not about the copy; returns the image ID."""
    r = _podman(podman, "pull", "-q", img.podman_ref, timeout=900)
    assert r.returncode == 0, f"podman pull {img.podman_ref}: {r.stderr[-2000:]}"
    return r.stdout.strip().splitlines()[-1]


def test_flask_suite_passes_under_podman(podman: list[str]) -> None:
    img = ensure("flask-app")
    r = _podman(podman, "run", "--rm", "--network=none", _pulled(podman, img), "python3", "-m", "pytest", "-q",
                "-p", "no:cacheprovider", "/app/tests")
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    assert "6 passed" in r.stdout


def test_node_suite_passes_under_podman(podman: list[str]) -> None:
    img = ensure("node-app")
    r = _podman(podman, "run", "--rm", "--network=none", _pulled(podman, img), "node", "--test", "/app/test")
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    assert "# fail 0" in r.stdout and "# pass 7" in r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize(("name", "port", "path", "expect"), [
    ("nginx-site", 80, "/", b"honed example site"),
    ("flask-app", 8000, "/health", b'"status"'),
    ("node-app", 3000, "/items", b'"fruit"'),
])
def test_app_answers_http_on_a_published_port(podman: list[str], name: str, port: int, path: str,
                                              expect: bytes) -> None:
    img = ensure(name)
    host_port = _free_port()
    r = _podman(podman, "run", "-d", "--rm", "-p", f"127.0.0.1:{host_port}:{port}", _pulled(podman, img))
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        body = _get(f"http://127.0.0.1:{host_port}{path}", time.monotonic() + 30)
        assert expect in body
    finally:
        _podman(podman, "stop", "-t", "3", cid)


def test_concurrent_ensure_builds_once(tmp_path: Path) -> None:
    """Two processes asking for the same image: one builds, the other waits and reuses it."""
    base = build.base_tarball()
    (tmp_path / base.name).symlink_to(base)  # reuse the debootstrap base; the image itself is built anew
    env = {**os.environ, "HONED_FIXTURES": str(tmp_path)}
    code = "from tests.fixtures.build import ensure; print(ensure('minimal').oci_dir)"
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    built = [p for p in tmp_path.iterdir() if p.name.startswith("minimal-")]
    assert len(built) == 1
    assert (built[0] / "build.log").read_text().count("=== base layer") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_unfinished_build_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = build.base_tarball()
    (tmp_path / base.name).symlink_to(base)
    monkeypatch.setenv("HONED_FIXTURES", str(tmp_path))
    half = tmp_path / f"minimal-{build.image_key('minimal')}"
    (half / "oci").mkdir(parents=True)  # as if copied in part: no info.json
    img = ensure("minimal")
    assert img.oci_dir == half / "oci"
    assert (half / "info.json").is_file()
    _skopeo_inspect(img.ref)

