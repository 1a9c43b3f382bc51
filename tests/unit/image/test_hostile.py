"""Hostile and broken images: each ends in one typed, readable error; nothing is written outside the
target; the input is never modified."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.fixtures.synth import (
    Entry,
    compress,
    dir,
    file,
    hardlink,
    layer_tar,
    snapshot,
    symlink,
    write_oci,
)

from honed.cli.main import main
from honed.errors import (
    CorruptLayerError,
    DigestMismatchError,
    ImageError,
    ManifestError,
    MissingBlobError,
    PathEscapeError,
)
from honed.image import open_image
from honed.image.extract import extract


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A sandbox: the image, the cache, and a 'host' dir an escape would write into."""
    base = tmp_path / "w"
    host = base / "host"
    host.mkdir(parents=True)
    (host / "passwd").write_text("root:x:0:0\n")
    (base / "cache").mkdir()
    monkeypatch.setenv("HONED_CACHE", str(base / "cache"))
    return {"base": base, "host": host, "img": base / "img", "cache": base / "cache"}


def _run(env: dict[str, Path], layers, *, expect, match: str | None = None, **kw):  # type: ignore[no-untyped-def]
    layout = write_oci(env["img"], layers, **kw)
    before_input = snapshot(layout)
    before_host = snapshot(env["host"])
    before_base = sorted(p.name for p in env["base"].iterdir())
    with pytest.raises(expect, match=match) as ei:
        open_image(f"oci:{layout}:latest").rootfs()
    # one readable line
    assert "\n" not in ei.value.render()
    assert snapshot(layout) == before_input, "the input was modified"
    assert snapshot(env["host"]) == before_host, "something was written outside the target"
    assert sorted(p.name for p in env["base"].iterdir()) == before_base
    rootfs_dir = env["cache"] / "images" / "rootfs"
    assert not rootfs_dir.exists() or list(rootfs_dir.iterdir()) == [], "a half-made extraction was left"
    return ei.value


def test_dotdot_entry(env: dict[str, Path]) -> None:
    e = _run(env, [[file("ok", "1"), file("../../host/evil", "x")]], expect=PathEscapeError, match=r"contains '\.\.'")
    assert e.path == "../../host/evil" and e.layer.startswith("sha256:")


def test_absolute_entry(env: dict[str, Path]) -> None:
    _run(env, [[file(str(env["host"] / "evil"), "x")]], expect=PathEscapeError, match="absolute path")


def test_symlink_then_entry_beneath_it(env: dict[str, Path]) -> None:
    # the classic: a symlink to a host directory, then a file "through" it, in the same layer
    e = _run(env, [[symlink("link", str(env["host"])), file("link/passwd", "pwned")]], expect=PathEscapeError,
             match="goes through the symlink /link")
    assert "link/passwd" in str(e)


def test_symlink_in_earlier_layer_then_entry_beneath_it(env: dict[str, Path]) -> None:
    _run(
        env,
        [[dir("a"), symlink("a/up", "../../../../../../..")], [dir("a/up/tmp"), file("a/up/tmp/evil", "x")]],
        expect=PathEscapeError,
        match="symlink /a/up",
    )


def test_relative_symlink_dir_then_entry(env: dict[str, Path]) -> None:
    # even a symlink that stays inside is never followed while extracting
    _run(env, [[dir("real"), symlink("alias", "real"), file("alias/f", "x")]], expect=PathEscapeError)


def test_hardlink_outside_dotdot(env: dict[str, Path]) -> None:
    _run(env, [[hardlink("h", "../../host/passwd")]], expect=PathEscapeError, match=r"'\.\.'")


def test_hardlink_absolute(env: dict[str, Path]) -> None:
    _run(env, [[hardlink("h", str(env["host"] / "passwd"))]], expect=PathEscapeError, match="absolute")


def test_hardlink_via_symlinked_dir(env: dict[str, Path]) -> None:
    # "d" points at the host; a hardlink to d/passwd must not link the host file in
    e = _run(env, [[symlink("d", str(env["host"])), hardlink("h", "d/passwd")]], expect=CorruptLayerError,
             match="does not exist")
    assert e.path == "h"


def test_hardlink_to_missing_target(env: dict[str, Path]) -> None:
    _run(env, [[hardlink("h", "nothere")]], expect=CorruptLayerError, match="hardlink target")


def test_whiteout_aimed_outside(env: dict[str, Path]) -> None:
    _run(env, [[file("x", "1")], [file("../host/.wh.passwd")]], expect=PathEscapeError)


def test_whiteout_naming_dotdot(env: dict[str, Path]) -> None:
    _run(env, [[file("x", "1")], [file("etc/.wh..."), ]], expect=PathEscapeError, match="whiteout")


def test_whiteout_beneath_symlink(env: dict[str, Path]) -> None:
    _run(env, [[symlink("h", str(env["host"]))], [file("h/.wh.passwd")]], expect=PathEscapeError,
         match="whiteout beneath a symlink")


def test_truncated_gzip(env: dict[str, Path]) -> None:
    blob = compress(layer_tar([file("x", os.urandom(50000).hex())]))
    _run(env, [blob[: len(blob) // 2]], expect=CorruptLayerError, match="truncated")


def test_corrupt_gzip(env: dict[str, Path]) -> None:
    blob = bytearray(compress(layer_tar([file("x", "abc" * 20000)])))
    blob[30:60] = b"\xff" * 30
    _run(env, [bytes(blob)], expect=CorruptLayerError, match="corrupt")


def test_corrupt_zstd(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "abc" * 20000)]], compression="zstd")
    # truncate the layer blob and fix up the digests so only the compression is broken
    m = json.loads((layout / "index.json").read_text())
    mdig = m["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / mdig).read_bytes())
    blob = (layout / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]).read_bytes()
    import shutil

    shutil.rmtree(layout)
    from tests.fixtures import synth

    def fix(mm):  # type: ignore[no-untyped-def]
        mm["layers"][0]["mediaType"] = synth.MEDIA["zstd"]

    write_oci(env["img"], [blob[:-40]], mutate_manifest=fix)
    with pytest.raises(CorruptLayerError, match="zstd"):
        open_image(f"oci:{env['img']}:latest").rootfs()


def test_tar_ends_inside_a_file(env: dict[str, Path]) -> None:
    tar = layer_tar([file("x", "y" * 100000)])
    _run(env, [compress(tar[:20000])], expect=CorruptLayerError, match="x")


def test_absurd_entry_size(env: dict[str, Path]) -> None:
    _run(env, [[Entry("huge", size=1 << 42, data=b"abc")]], expect=CorruptLayerError, match="absurd entry size")


def test_decompression_bomb_capped(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_MAX_UNPACKED", str(1 << 20))
    _run(env, [[file("zeros", b"\0" * (2 << 20))]], expect=CorruptLayerError, match="HONED_MAX_UNPACKED")


def test_layer_digest_mismatch(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]])
    manifest = _manifest(layout)
    p = layout / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    good = p.read_bytes()
    p.write_bytes(compress(layer_tar([file("x", "2")])))  # same size class, different bytes
    with pytest.raises(DigestMismatchError, match=manifest["layers"][0]["digest"]) as ei:
        open_image(f"oci:{layout}:latest").rootfs()
    assert ei.value.expected == manifest["layers"][0]["digest"]
    assert good != p.read_bytes()


def test_diff_id_mismatch(env: dict[str, Path]) -> None:
    def bad(cfg):  # type: ignore[no-untyped-def]
        cfg["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64

    _run(env, [[file("x", "1")]], expect=DigestMismatchError, match="diff_id", mutate_config=bad)


def test_manifest_digest_mismatch(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]])
    idx = json.loads((layout / "index.json").read_text())
    mp = layout / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]
    mp.write_bytes(mp.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(DigestMismatchError, match="manifest"):
        open_image(f"oci:{layout}")


def test_missing_layer_blob(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]])
    d = _manifest(layout)["layers"][0]["digest"]
    (layout / "blobs/sha256" / d.split(":")[1]).unlink()
    img = open_image(f"oci:{layout}")
    with pytest.raises(MissingBlobError, match=d):
        img.rootfs()


def test_missing_config_blob(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]])
    d = _manifest(layout)["config"]["digest"]
    (layout / "blobs/sha256" / d.split(":")[1]).unlink()
    with pytest.raises(MissingBlobError, match=d):
        open_image(f"oci:{layout}")


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"raw_manifest": b"{not json"}, "not valid JSON"),
        ({"raw_manifest": b"[1,2]"}, "not a JSON object"),
        ({"raw_config": b"\xff\xfe garbage"}, "not valid JSON"),
        ({"mutate_config": lambda c: c["rootfs"].update(diff_ids=[])}, "diff_ids"),
        ({"mutate_config": lambda c: c.pop("rootfs")}, "diff_ids"),
        ({"mutate_manifest": lambda m: m.update(schemaVersion=1)}, "schemaVersion"),
        ({"mutate_manifest": lambda m: m["layers"][0].update(size=10**15)}, "absurd size"),
        ({"mutate_manifest": lambda m: m["layers"][0].update(digest="md5:abc")}, "invalid digest|digest"),
        ({"mutate_manifest": lambda m: m["config"].update(size=10**9)}, "refusing"),
    ],
)
def test_invalid_manifest_or_config(env: dict[str, Path], kw, match) -> None:  # type: ignore[no-untyped-def]
    layout = write_oci(env["img"], [[file("x", "1")]], **kw)
    before = snapshot(layout)
    with pytest.raises(ImageError, match=match):
        open_image(f"oci:{layout}").rootfs()
    assert snapshot(layout) == before


def test_invalid_index(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]])
    (layout / "index.json").write_text("{")
    with pytest.raises(ManifestError, match="index.json"):
        open_image(f"oci:{layout}")


def test_unknown_tag_lists_tags(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("x", "1")]], tag="v1")
    with pytest.raises(ManifestError, match=r"no image tagged 'v2'.*v1"):
        open_image(f"oci:{layout}:v2")


def test_extract_to_fresh_dir_cleans_up(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("a", "1"), file("../x", "2")]])
    dest = env["base"] / "out"
    with pytest.raises(PathEscapeError):
        extract(open_image(f"oci:{layout}"), dest)
    assert not dest.exists()


def test_cli_reports_one_line_exit_3(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    layout = write_oci(env["img"], [[symlink("l", "/"), file("l/etc/x", "1")]])
    # inspect reads the layers for /etc/os-release; the extraction path is exercised by rootfs()
    with pytest.raises(PathEscapeError):
        open_image(f"oci:{layout}").rootfs()
    corrupt = write_oci(env["base"] / "img2", [compress(layer_tar([file("x", "y" * 9000)]))[:100]])
    rc = main(["inspect", f"oci:{corrupt}"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.count("\n") == 1 and "corrupt" in err and "sha256:" in err


def _manifest(layout: Path) -> dict:  # type: ignore[type-arg]
    idx = json.loads((layout / "index.json").read_text())
    return json.loads((layout / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]).read_bytes())


def test_name_too_long_for_the_filesystem(env: dict[str, Path]) -> None:
    long = "/".join(["d" * 200] * 30) + "/f"
    e = _run(env, [[file(long, "x")]], expect=CorruptLayerError, match="cannot create entry")
    assert e.path == long


def test_non_utf8_names_extract(env: dict[str, Path]) -> None:
    layout = write_oci(env["img"], [[file("caf\udce9", "bytes name")]])  # b"caf\xe9" in the tar
    fs = open_image(f"oci:{layout}").rootfs()
    assert fs.read_bytes("/caf\udce9") == b"bytes name"
    assert fs.layer_of("/caf\udce9") is not None
