"""Promotion of a verified result: push the hardened image to a registry and attach the record to it.

The image goes with `skopeo copy --preserve-digests` (the pushed manifest is byte-identical, so the digest
the record names is the digest in the registry). The record goes as an OCI 1.1 artifact whose `subject` is
the hardened image's manifest: one layer per record file (titled with `org.opencontainers.image.title`, as
ORAS does), an empty config, `artifactType` application/vnd.honed.record.v1+json. Registries without the
referrers API (Debian's docker-registry 2.8) get the spec's fallback: an image index under the tag
`sha256-<subject hex>` listing the referrers, updated in place.

This is a small client of the OCI distribution API over plain HTTP(S) (urllib): blob upload (POST + PUT),
manifest PUT/GET. Anonymous access only; a registry that asks for credentials gets a clear error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from honed.errors import EnvironmentMissingError, HonedError, UserError

log = logging.getLogger(__name__)

ARTIFACT_TYPE = "application/vnd.honed.record.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of b"{}"
TITLE = "org.opencontainers.image.title"

_TYPES = {".json": "application/json", ".sarif": "application/sarif+json", ".xml": "application/xml",
          ".html": "text/html", ".jsonl": "application/vnd.in-toto+json", "": "text/plain"}


class PushError(HonedError):
    """A push that failed after the local result was complete: exit 4, and what to retry."""

    exit_code = 4


@dataclass(frozen=True, slots=True)
class Target:
    """A registry repository (`HOST[:PORT]/PATH`) and a tag."""

    host: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> Target:
        r = ref.removeprefix("docker://")
        if "@" in r:
            raise UserError(f"push target {ref!r} must be NAME:TAG, not a digest")
        if "/" not in r or not ("." in r.split("/", 1)[0] or ":" in r.split("/", 1)[0]
                                or r.split("/", 1)[0] == "localhost"):
            raise UserError(f"push target {ref!r} must name a registry host, e.g. 127.0.0.1:5000/app:1-hardened")
        host, path = r.split("/", 1)
        repo, sep, tag = path.rpartition(":")
        if not sep or "/" in tag:
            repo, tag = path, "latest"
        if not repo or repo != repo.lower():
            raise UserError(f"push target {ref!r}: the repository must be lowercase and not empty")
        return cls(host, repo, tag)

    @property
    def insecure(self) -> bool:
        h = self.host.split(":", 1)[0]
        return h in ("localhost", "127.0.0.1", "::1", "[::1]")

    @property
    def base(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}/v2/{self.repository}/"

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Client:
    def __init__(self, target: Target, timeout: float = 60.0) -> None:
        self.t = target
        self.timeout = timeout
        self.ctx = None if target.insecure else ssl.create_default_context()

    def request(self, method: str, url: str, data: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            if e.code in (401, 403):
                raise PushError(f"{self.t.host} asks for credentials ({e.code}); honed pushes anonymously",
                                hint="push with skopeo/oras using your credentials") from None
            return e.code, {k.lower(): v for k, v in e.headers.items()}, body
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise PushError(f"cannot reach registry {self.t.host}: {reason}") from None

    def has_blob(self, digest: str) -> bool:
        return self.request("HEAD", self.t.base + f"blobs/{digest}")[0] == 200

    def put_blob(self, data: bytes) -> str:
        digest = _sha(data)
        if self.has_blob(digest):
            return digest
        st, h, body = self.request("POST", self.t.base + "blobs/uploads/")
        if st != 202 or "location" not in h:
            raise PushError(f"blob upload refused by {self.t.host}: HTTP {st} {body[:200]!r}")
        loc = urljoin(self.t.base, h["location"])
        loc += ("&" if "?" in loc else "?") + f"digest={digest}"
        st, _, body = self.request("PUT", loc, data, {"Content-Type": "application/octet-stream"})
        if st != 201:
            raise PushError(f"blob upload to {self.t.host} failed: HTTP {st} {body[:200]!r}")
        return digest

    def put_manifest(self, ref: str, data: bytes, media_type: str) -> dict[str, str]:
        st, h, body = self.request("PUT", self.t.base + f"manifests/{ref}", data, {"Content-Type": media_type})
        if st not in (200, 201):
            raise PushError(f"manifest upload to {self.t.host} failed: HTTP {st} {body[:300]!r}")
        return h

    def get_manifest(self, ref: str, accept: str) -> tuple[bytes, str] | None:
        st, h, body = self.request("GET", self.t.base + f"manifests/{ref}", headers={"Accept": accept})
        if st == 404:
            return None
        if st != 200:
            raise PushError(f"reading manifest {ref} from {self.t.host} failed: HTTP {st}")
        return body, h.get("content-type", "")


def push_image(src: str, target: Target) -> None:
    """Copy a local image (skopeo syntax, e.g. oci:DIR:TAG) to the target, keeping its manifest digest."""
    import shutil

    exe = shutil.which("skopeo")
    if not exe:
        raise EnvironmentMissingError("skopeo is not installed (needed to push)", hint="apt-get install skopeo")
    args = [exe, "copy", "--quiet", "--preserve-digests"]
    if target.insecure:
        args.append("--dest-tls-verify=false")
    proc = subprocess.run([*args, src, f"docker://{target}"], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise PushError(f"pushing the hardened image to {target} failed: {err}")


def record_manifest(files: Mapping[str, bytes], subject: Mapping[str, Any],
                    annotations: Mapping[str, str] | None = None) -> tuple[bytes, dict[str, bytes]]:
    """The artifact manifest bytes and the blobs it names (digest -> bytes). Deterministic."""
    blobs: dict[str, bytes] = {EMPTY_DIGEST: b"{}"}
    layers = []
    for name in sorted(files):
        data = files[name]
        d = _sha(data)
        blobs[d] = data
        ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        layers.append({"mediaType": _TYPES.get(ext, "application/octet-stream"), "digest": d, "size": len(data),
                       "annotations": {TITLE: name}})
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY, "digest": EMPTY_DIGEST, "size": 2, "data": base64.b64encode(b"{}").decode()},
        "layers": layers,
        "subject": dict(subject),
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(), blobs


def attach_record(target: Target, files: Mapping[str, bytes], *, subject_digest: str,
                  annotations: Mapping[str, str] | None = None) -> str:
    """Push the record as an artifact referring to the image `subject_digest` in `target`'s repository.
    Returns the artifact's manifest digest."""
    c = _Client(target)
    got = c.get_manifest(subject_digest, f"{MANIFEST}, {INDEX}, application/vnd.docker.distribution.manifest.v2+json")
    if got is None:
        raise PushError(f"image {subject_digest} is not in {target.host}/{target.repository}; push it first")
    subj_bytes, subj_type = got
    if _sha(subj_bytes) != subject_digest:
        raise PushError(f"registry returned a manifest that does not match {subject_digest}")
    subject = {"mediaType": subj_type.split(";")[0] or MANIFEST, "digest": subject_digest, "size": len(subj_bytes)}
    manifest, blobs = record_manifest(files, subject, annotations)
    for data in blobs.values():
        c.put_blob(data)
    digest = _sha(manifest)
    h = c.put_manifest(digest, manifest, MANIFEST)
    if h.get("oci-subject") != subject_digest:
        _update_fallback_index(c, subject_digest, {
            "mediaType": MANIFEST, "digest": digest, "size": len(manifest), "artifactType": ARTIFACT_TYPE,
            **({"annotations": dict(sorted(annotations.items()))} if annotations else {}),
        })
    log.info("attached the record to %s@%s as %s", target.repository, subject_digest, digest)
    return digest


def _update_fallback_index(c: _Client, subject_digest: str, desc: Mapping[str, Any]) -> None:
    """OCI distribution 1.1 referrers tag schema: tag `<alg>-<hex>` holds an index of the referrers."""
    tag = subject_digest.replace(":", "-")
    got = c.get_manifest(tag, INDEX)
    manifests: list[dict[str, Any]] = []
    if got is not None:
        try:
            manifests = list(json.loads(got[0]).get("manifests", []))
        except (ValueError, AttributeError):
            manifests = []
    manifests = [m for m in manifests if m.get("digest") != desc["digest"]] + [dict(desc)]
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
    c.put_manifest(tag, json.dumps(index, sort_keys=True, separators=(",", ":")).encode(), INDEX)


def referrers(target: Target, subject_digest: str) -> list[dict[str, Any]]:
    """Artifacts referring to `subject_digest`: the referrers API, else the fallback tag's index."""
    c = _Client(target)
    st, _, body = c.request("GET", target.base + f"referrers/{subject_digest}", headers={"Accept": INDEX})
    if st == 200:
        return list(json.loads(body).get("manifests", []))
    got = c.get_manifest(subject_digest.replace(":", "-"), INDEX)
    return list(json.loads(got[0]).get("manifests", [])) if got else []


def fetch_record(target: Target, artifact_digest: str) -> dict[str, bytes]:
    """Download an attached record's files (for checks and `honed record verify` of a pulled record)."""
    c = _Client(target)
    got = c.get_manifest(artifact_digest, MANIFEST)
    if got is None:
        raise UserError(f"no artifact {artifact_digest} in {target.host}/{target.repository}")
    m = json.loads(got[0])
    out = {}
    for layer in m.get("layers", []):
        st, _, body = c.request("GET", target.base + f"blobs/{layer['digest']}")
        if st != 200 or _sha(body) != layer["digest"]:
            raise PushError(f"blob {layer['digest']} could not be read back intact")
        out[layer["annotations"][TITLE]] = body
    return out


def push_record(record_dir: Any, target: Target, *, image: str | None = None, public_key: Any = None) -> str:
    """Retry a promotion: check the record, push its image (default: the local layout summary.json names),
    attach the record. Returns the artifact digest."""
    from pathlib import Path

    from honed.report.record import verify_record

    d = Path(record_dir)
    chk = verify_record(d, public_key=public_key)
    summary = json.loads((d / "summary.json").read_text())
    h = summary.get("hardened_image") or {}
    if not h.get("promoted"):
        raise UserError(f"the record in {d} is of an image that failed verification; it is not pushed")
    src = image or h.get("local")
    if not src:
        raise UserError("the record names no local copy of the image; pass --image oci:DIR:TAG")
    digest = h.get("digest", "")
    if chk.image is not None and digest != "sha256:" + chk.image[1]:
        raise UserError("summary.json and the attestation disagree on the image digest")
    push_image(src, target)
    files = {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}
    return attach_record(target, files, subject_digest=digest)
