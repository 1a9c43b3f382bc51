"""Record as an OCI 1.1 artifact: schema-valid manifest, and a real push/attach against Debian's registry."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import referencing.jsonschema
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from honed.errors import UserError
from honed.verify.publish import (
    ARTIFACT_TYPE,
    PushError,
    Target,
    attach_record,
    fetch_record,
    push_image,
    record_manifest,
    referrers,
)

FILES = {"summary.json": b'{"ok": true}\n', "report.html": b"<!DOCTYPE html><html></html>\n",
         "attestation.intoto.jsonl": b"{}\n"}


def _oci_validator(folder: Path, name: str):  # type: ignore[no-untyped-def]
    schema = json.loads((folder / name).read_text())
    cls = validator_for(schema)
    spec = referencing.jsonschema.specification_with(schema.get("$schema", "http://json-schema.org/draft-04/schema#"))

    def retrieve(uri: str) -> Resource:  # type: ignore[type-arg]
        f = folder / pathlib.PurePosixPath(urlsplit(uri).path).name
        if not f.is_file():
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs field, invisible to mypy
        return Resource.from_contents(json.loads(f.read_text()), default_specification=spec)

    return cls(schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]  # attrs field


def test_manifest_schema_valid_and_deterministic(schemas: Path) -> None:
    subject = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "a" * 64, "size": 350}
    data, blobs = record_manifest(FILES, subject, {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"})
    m = json.loads(data)
    _oci_validator(schemas / "oci", "image-manifest-schema.json").validate(m)
    assert m["artifactType"] == ARTIFACT_TYPE and m["subject"] == subject
    assert [la["annotations"]["org.opencontainers.image.title"] for la in m["layers"]] == sorted(FILES)
    assert len(blobs) == len(FILES) + 1  # + the empty config
    assert record_manifest(dict(reversed(list(FILES.items()))), subject,
                           {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"})[0] == data


@pytest.mark.parametrize("bad", ["app:1", "127.0.0.1:5000/App:1", "127.0.0.1:5000/app@sha256:" + "a" * 64])
def test_target_parse_rejects(bad: str) -> None:
    with pytest.raises(UserError):
        Target.parse(bad)


def test_target_parse() -> None:
    t = Target.parse("docker://127.0.0.1:5000/demo/app:1.0-hardened")
    assert (t.host, t.repository, t.tag, t.insecure) == ("127.0.0.1:5000", "demo/app", "1.0-hardened", True)
    assert Target.parse("localhost:5000/app").tag == "latest"


def _free_port() -> int:  # a port nothing listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tiny_image(tmp_path: Path) -> tuple[str, str]:
    """A one-layer OCI layout made by umoci (an independent tool), returns (skopeo ref, manifest digest)."""
    if not shutil.which("umoci") or not shutil.which("skopeo"):
        pytest.skip("umoci/skopeo not installed")
    lay = tmp_path / "img"
    subprocess.run(["umoci", "init", "--layout", str(lay)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{lay}:t"], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{lay}:t", str(bundle)], check=True,
                   capture_output=True)
    (bundle / "rootfs" / "hello.txt").write_text("hello\n")
    subprocess.run(["umoci", "repack", "--image", f"{lay}:t", str(bundle)], check=True, capture_output=True)
    idx = json.loads((lay / "index.json").read_text())
    return f"oci:{lay}:t", idx["manifests"][0]["digest"]


def test_push_and_attach_roundtrip(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    local_registry = registry.host
    src, digest = _tiny_image(tmp_path)
    t = Target.parse(f"{local_registry}/demo/tiny:1-hardened")
    push_image(src, t)
    head = urllib.request.urlopen(urllib.request.Request(
        f"http://{local_registry}/v2/demo/tiny/manifests/1-hardened", method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}))
    assert head.headers["Docker-Content-Digest"] == digest  # pushed byte-identical: the record's digest holds
    a1 = attach_record(t, FILES, subject_digest=digest)
    a2 = attach_record(t, {**FILES, "summary.json": b"{}\n"}, subject_digest=digest)
    refs = referrers(t, digest)
    assert {r["digest"] for r in refs} == {a1, a2} and all(r["artifactType"] == ARTIFACT_TYPE for r in refs)
    assert attach_record(t, FILES, subject_digest=digest) == a1 and len(referrers(t, digest)) == 2  # idempotent
    assert fetch_record(t, a1) == FILES


def test_push_failure_is_clear(tmp_path: Path) -> None:
    t = Target.parse(f"127.0.0.1:{_free_port()}/demo/none:1")
    with pytest.raises(PushError, match="cannot reach registry"):
        attach_record(t, FILES, subject_digest="sha256:" + "a" * 64)
