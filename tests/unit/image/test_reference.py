"""Image reference parsing (skopeo's transport syntax)."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.errors import InvalidReferenceError
from honed.image.image import transport_string
from honed.image.reference import parse
from honed.model import ImageRef


@pytest.mark.parametrize(
    "text, want",
    [
        ("oci:/x/layout", ImageRef("oci", "/x/layout")),
        ("oci:/x/layout:v1", ImageRef("oci", "/x/layout", "v1")),
        ("oci-archive:img.tar:latest", ImageRef("oci-archive", "img.tar", "latest")),
        ("docker-archive:img.tar", ImageRef("docker-archive", "img.tar")),
        ("docker-archive:img.tar:repo/name:tag", ImageRef("docker-archive", "img.tar", "repo/name:tag")),
        ("docker://127.0.0.1:5000/team/app:1.2", ImageRef("docker", "127.0.0.1:5000/team/app", "1.2")),
        ("docker://debian", ImageRef("docker", "debian", "latest")),
        ("docker://quay.io/org/img@sha256:" + "a" * 64,
         ImageRef("docker", "quay.io/org/img", None, "sha256:" + "a" * 64)),
        ("docker-daemon:app:1", ImageRef("docker-daemon", "app", "1")),
        ("containers-storage:localhost/app:1", ImageRef("containers-storage", "localhost/app", "1")),
    ],
)
def test_valid(text: str, want: ImageRef) -> None:
    assert parse(text) == want


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("docker:debian", "docker://"),
        ("docker://UPPER/case:1", "valid repository"),
        ("docker://repo:bad tag", "valid tag"),
        ("docker://repo@sha256:abc", "sha256 digest"),
        ("docker-daemon:app", "needs a tag"),
        ("oci:", "needs a path"),
        ("ftp://x/y", "unknown transport|no transport"),
        ("nonexistent-dir-xyz", "no transport"),
    ],
)
def test_invalid(text: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError, match=why) as ei:
        parse(text)
    assert ei.value.exit_code == 3 and "hint" in ei.value.render()


def test_bare_layout_dir(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text("{}")
    assert parse(str(tmp_path)) == ImageRef("oci", str(tmp_path))
    assert parse(f"{tmp_path}:v2") == ImageRef("oci", str(tmp_path), "v2")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InvalidReferenceError, match="not an OCI image layout"):
        parse(str(plain))


def test_round_trip_to_skopeo_syntax() -> None:
    for s in ("docker://127.0.0.1:5000/a/b:c", "oci:/x:y", "containers-storage:localhost/app:1"):
        assert transport_string(parse(s)) == s
