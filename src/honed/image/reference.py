"""Image references in skopeo's transport syntax, parsed into `model.ImageRef`.

    oci:DIR[:TAG]                 an OCI image layout directory
    oci-archive:FILE[:TAG]        a tar of an OCI image layout
    docker-archive:FILE[:NAME:TAG]  `docker save` output
    docker://REG/REPO[:TAG|@DIGEST] a registry
    docker-daemon:NAME:TAG        a local Docker engine
    containers-storage:NAME[:TAG] podman/buildah storage
    DIR                           a bare path to an OCI layout directory (its only image, or :TAG)

As in skopeo, a local path ends at the first ':'; what follows is the tag.
"""

from __future__ import annotations

import os
import re

from honed.errors import InvalidReferenceError
from honed.model import ImageRef

TRANSPORTS = ("oci", "oci-archive", "docker-archive", "docker", "docker-daemon", "containers-storage")
LOCAL = ("oci", "oci-archive", "docker-archive")

_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$")
_REPO = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+|__)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_HOST = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


def _split_name_tag(ref: str, s: str) -> tuple[str, str | None, str | None]:
    """"reg:5000/repo:tag@sha256:…" -> ("reg:5000/repo", "tag", "sha256:…")."""
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReferenceError(ref, f"{digest!r} is not a sha256 digest")
    tag = None
    last = s.rsplit("/", 1)[-1]
    if ":" in last:
        s, tag = s.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReferenceError(ref, f"{tag!r} is not a valid tag")
    if not s:
        raise InvalidReferenceError(ref, "the image name is empty")
    parts = s.split("/")
    host_like = len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost")
    if host_like and not _HOST.match(parts[0]):
        raise InvalidReferenceError(ref, f"{parts[0]!r} is not a registry host")
    repo = "/".join(parts[1:]) if host_like else s
    if not _REPO.match(repo):
        raise InvalidReferenceError(ref, f"{repo!r} is not a valid repository name (lower case, a-z0-9._-/)")
    return s, tag, digest


def parse(s: str | ImageRef) -> ImageRef:
    """Parse an image reference; raise InvalidReferenceError with the reason when it is not one."""
    if isinstance(s, ImageRef):
        return s
    if not isinstance(s, str) or not s.strip():
        raise InvalidReferenceError(str(s), "empty reference")
    ref = s.strip()
    transport, sep, rest = ref.partition(":")
    if sep and transport in TRANSPORTS:
        if transport == "docker":
            if not rest.startswith("//"):
                raise InvalidReferenceError(ref, "a registry reference is docker://REGISTRY/REPO:TAG")
            name, tag, digest = _split_name_tag(ref, rest[2:])
            if tag is None and digest is None:
                tag = "latest"
            return ImageRef("docker", name, tag, digest)
        if transport in ("docker-daemon", "containers-storage"):
            if not rest:
                raise InvalidReferenceError(ref, f"{transport}: needs NAME:TAG")
            name, tag, digest = _split_name_tag(ref, rest)
            if transport == "docker-daemon" and tag is None and digest is None:
                raise InvalidReferenceError(ref, "docker-daemon: needs a tag or a digest (NAME:TAG)")
            return ImageRef(transport, name, tag, digest)
        # Local paths: the path ends at the first ':'.
        path, _, tag = rest.partition(":")
        if not path:
            raise InvalidReferenceError(ref, f"{transport}: needs a path")
        if tag == "":
            tag_v: str | None = None
        else:
            tag_v = tag
            if transport != "docker-archive" and not _TAG.match(tag) and not _ref_name_ok(tag):
                raise InvalidReferenceError(ref, f"{tag!r} is not a valid tag")
        return ImageRef(transport, path, tag_v)
    # A bare path to an OCI layout directory, optionally with :TAG.
    path, _, tag = ref.partition(":")
    if os.path.isfile(os.path.join(path, "oci-layout")):
        return ImageRef("oci", path, tag or None)
    if sep and transport and "/" not in transport and not os.path.exists(path):
        raise InvalidReferenceError(ref, f"unknown transport {transport!r}")
    if os.path.exists(path):
        raise InvalidReferenceError(ref, f"{path} is not an OCI image layout (no oci-layout file)")
    raise InvalidReferenceError(ref, "no transport given and no OCI layout directory at that path")


def _ref_name_ok(tag: str) -> bool:
    # OCI ref.name annotations may hold more than a docker tag (e.g. "repo:tag" or a digest-ish name).
    return bool(tag) and all(c.isprintable() and c not in "@" for c in tag)


__all__ = ["LOCAL", "TRANSPORTS", "parse"]
