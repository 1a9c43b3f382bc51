"""`honed inspect`: what an image is, from its manifest, config, history and /etc/os-release.

/etc/os-release is read straight from the layers (one streaming pass, which also verifies every layer and
measures its unpacked size), never by extracting the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honed.image.image import Image, open_image
from honed.model import ImageRef

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")


def parse_os_release(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def describe(image: Image) -> dict[str, Any]:
    """A JSON-ready description of an opened image (reads every layer once)."""
    sizes: dict[str, int] = {}
    files = image.read_files(OS_RELEASE, sizes=sizes)
    data = files.get("/etc/os-release") or files.get("/usr/lib/os-release")
    osr = parse_os_release(data) if data else {}
    cfg = image.image_config
    layers = [
        {
            "digest": lyr.digest,
            "diff_id": lyr.diff_id,
            "size": lyr.size,
            "unpacked_size": sizes.get(lyr.diff_id, 0),
            "media_type": lyr.media_type,
            "created_by": lyr.created_by,
        }
        for lyr in image.layers
    ]
    return {
        "reference": str(image.ref),
        "transport": image.ref.transport,
        "manifest_digest": image.manifest_digest,
        "manifest_media_type": image.manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
        "index_digest": image.index_digest,
        "source_digest": image.source_digest,
        "config_digest": image.config_digest,
        "platform": image.platform,
        "created": image.config.get("created"),
        "os": {
            "id": osr.get("ID"),
            "version_id": osr.get("VERSION_ID"),
            "codename": osr.get("VERSION_CODENAME"),
            "pretty_name": osr.get("PRETTY_NAME"),
        }
        if osr
        else None,
        "config": {
            "entrypoint": cfg.get("Entrypoint") or [],
            "cmd": cfg.get("Cmd") or [],
            "env": cfg.get("Env") or [],
            "workdir": cfg.get("WorkingDir") or "",
            "user": cfg.get("User") or "",
            "exposed_ports": sorted((cfg.get("ExposedPorts") or {}).keys()),
            "labels": dict(sorted((cfg.get("Labels") or {}).items())),
        },
        "layers": layers,
        "size": {
            "compressed": sum(lyr.size for lyr in image.layers),
            "unpacked": sum(sizes.values()),
        },
    }


def inspect(ref: str | ImageRef, *, cache_dir: Path | None = None, tls_verify: bool | None = None) -> dict[str, Any]:
    return describe(open_image(ref, cache_dir=cache_dir, tls_verify=tls_verify))
