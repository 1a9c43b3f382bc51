"""Opening an image: reference -> blob source -> index -> manifest -> config -> layers, every blob verified.

OCI layouts, OCI archives and docker-archives are read in place (never modified). Registries, the Docker
daemon and containers-storage are copied once with `skopeo copy … dir:` into the content cache, keyed by the
digest `skopeo inspect --raw` reports, so a second run does not pull again. `dir:` keeps the manifest bytes
as the source served them, so the digest honed reports is the registry's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from honed.errors import (
    EnvironmentMissingError,
    ImageError,
    ManifestError,
    ToolError,
)
from honed.image import reference as _reference
from honed.image.rootfs import DirRootFS
from honed.image.sources import (
    BlobSource,
    DirSource,
    DockerArchiveSource,
    LayoutSource,
    OCIArchiveSource,
    TarSource,
)
from honed.image.stream import HashingReader, TarHasher, decompressed
from honed.model import ImageRef, Layer

log = logging.getLogger(__name__)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
REF_NAME = "org.opencontainers.image.ref.name"
MAX_JSON = 8 << 20  # manifests and configs are a few KiB; anything this big is hostile
DEFAULT_PLATFORM = "linux/amd64"


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The image cache: `cache_dir`, else $HONED_CACHE/images, else ~/.cache/honed/images."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("HONED_CACHE")
    if env:
        return Path(env) / "images"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "honed" / "images"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"{what} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return obj


def _descriptor(d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict) or not isinstance(d.get("digest"), str):
        raise ManifestError(f"{what}: a descriptor without a digest")
    size = d.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > 1 << 44):
        raise ManifestError(f"{what}: descriptor {d['digest']} has an absurd size {size!r}")
    return d


def _platform_of(d: dict[str, Any]) -> str:
    p = d.get("platform") or {}
    s = f"{p.get('os', '')}/{p.get('architecture', '')}"
    return s + (f"/{p['variant']}" if p.get("variant") else "")


class Image:
    """An opened, verified image. Blobs are read lazily and verified as they are read."""

    def __init__(
        self,
        ref: ImageRef,
        source: BlobSource,
        manifest_bytes: bytes,
        config_bytes: bytes,
        *,
        cache_dir: Path | None = None,
        index_digest: str | None = None,
        verify_layer_blobs: bool = True,
    ) -> None:
        self.source = source
        self.manifest_bytes = manifest_bytes
        self.manifest_digest = sha256_digest(manifest_bytes)
        self.ref = dataclasses.replace(ref, digest=self.manifest_digest)
        self.manifest = _json(manifest_bytes, f"manifest {self.manifest_digest}")
        self.index_digest = index_digest
        # What the source calls this image. It differs from manifest_digest only for engine storage
        # (containers-storage, docker-daemon), whose layers skopeo can hand over only uncompressed.
        self.source_digest = self.manifest_digest
        self.cache_dir = cache_root(cache_dir)
        self._verify_layer_blobs = verify_layer_blobs
        m = self.manifest
        if m.get("schemaVersion") != 2:
            raise ManifestError(f"manifest {self.manifest_digest}: schemaVersion {m.get('schemaVersion')!r} is not 2")
        mt = m.get("mediaType", OCI_MANIFEST)
        if mt not in MANIFEST_TYPES:
            raise ManifestError(f"manifest {self.manifest_digest}: unsupported media type {mt!r}")
        self.config_descriptor = _descriptor(m.get("config"), f"manifest {self.manifest_digest} config")
        self.config_bytes = config_bytes
        self.config_digest = self.config_descriptor["digest"]
        self.config = _json(config_bytes, f"config {self.config_digest}")
        layers = m.get("layers")
        if not isinstance(layers, list):
            raise ManifestError(f"manifest {self.manifest_digest}: 'layers' is not a list")
        descs = [_descriptor(d, f"manifest {self.manifest_digest} layer {i}") for i, d in enumerate(layers)]
        rootfs = self.config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or not all(isinstance(x, str) for x in diff_ids):
            raise ManifestError(f"config {self.config_digest}: rootfs.diff_ids is missing or not a list of digests")
        if len(diff_ids) != len(descs):
            raise ManifestError(
                f"config {self.config_digest} lists {len(diff_ids)} diff_ids but the manifest has {len(descs)} layers"
            )
        created = [h.get("created_by", "") for h in self.history if not h.get("empty_layer")]
        self.layers: tuple[Layer, ...] = tuple(
            Layer(
                digest=d["digest"],
                diff_id=diff_ids[i],
                size=int(d.get("size") or 0),
                media_type=str(d.get("mediaType", "")),
                created_by=str(created[i]) if i < len(created) else "",
            )
            for i, d in enumerate(descs)
        )
        self.platform = f"{self.config.get('os', '')}/{self.config.get('architecture', '')}" + (
            f"/{self.config['variant']}" if self.config.get("variant") else ""
        )

    def __repr__(self) -> str:
        return f"<Image {self.ref} {self.manifest_digest[:19]} {len(self.layers)} layers>"

    @property
    def history(self) -> list[dict[str, Any]]:
        h = self.config.get("history")
        return [x for x in h if isinstance(x, dict)] if isinstance(h, list) else []

    @property
    def image_config(self) -> dict[str, Any]:
        c = self.config.get("config")
        return c if isinstance(c, dict) else {}

    # -- blobs --------------------------------------------------------------------------------------
    def open_blob(self, digest: str, size: int | None = None, what: str | None = None) -> HashingReader:
        """A stream of one blob that raises DigestMismatchError at EOF when the bytes are not `digest`."""
        return HashingReader(self.source.open(digest), digest, what or f"blob {digest}", size)

    @contextmanager
    def layer_tar(self, layer: Layer) -> Iterator[tuple[TarHasher, TarHasher]]:
        """The uncompressed tar of a layer. After reading, call `hasher.drain_and_check()` to verify both
        the blob digest and the diff_id over every byte."""
        name = layer.digest
        raw = self.source.open(layer.digest)
        # docker-archive layers are named by their diff_id (as skopeo does); the bytes may be compressed,
        # so there only the diff_id is checked.
        blob = HashingReader(raw, layer.digest, f"layer {name}", layer.size if self._verify_layer_blobs else None)
        if not self._verify_layer_blobs:
            blob.check = lambda: None  # type: ignore[method-assign]
        try:
            stream, _kind = decompressed(blob, name)
            hasher = TarHasher(stream, layer.diff_id, name)
            yield hasher, hasher
        finally:
            blob.close()

    # -- filesystem ---------------------------------------------------------------------------------
    def rootfs(self) -> DirRootFS:
        """The final filesystem, extracted once into the cache (keyed by manifest digest) and reused."""
        from honed.image.extract import cached_rootfs

        return cached_rootfs(self)

    def read_files(self, paths: tuple[str, ...], *, sizes: dict[str, int] | None = None) -> dict[str, bytes]:
        """Read a few small files of the final filesystem straight from the layers, without extracting.
        `sizes` receives each layer's unpacked size (diff_id -> bytes)."""
        from honed.image.extract import read_files

        return read_files(self, paths, sizes=sizes)


# ----------------------------------------------------------------------------------------------- opening


def open_image(
    ref: str | ImageRef,
    *,
    cache_dir: Path | None = None,
    tls_verify: bool | None = None,
    platform: str = DEFAULT_PLATFORM,
) -> Image:
    """Open and verify an image's index, manifest and config. Layers are verified when read.

    A reference that carries a digest (e.g. the ImageRef `write_image` returned) must open to that image."""
    r = _reference.parse(ref)
    img = _open(r, cache_dir, tls_verify, platform)
    if r.digest and r.digest not in (img.manifest_digest, img.index_digest, img.source_digest):
        raise ManifestError(f"{r} is {img.manifest_digest} now, not the expected {r.digest}")
    return img


def _open(r: ImageRef, cache_dir: Path | None, tls_verify: bool | None, platform: str) -> Image:
    if r.transport == "oci":
        root = Path(r.reference)
        if not (root / "oci-layout").is_file() or not (root / "index.json").is_file():
            raise ManifestError(f"{root} is not an OCI image layout (oci-layout or index.json missing)")
        src: BlobSource = LayoutSource(root)
        index = _read_index(lambda: (root / "index.json").read_bytes(), str(root))
        return _from_index(r, src, index, r.tag, platform, cache_dir)
    if r.transport == "oci-archive":
        tar = TarSource(Path(r.reference))
        src = OCIArchiveSource(tar)
        if tar.member("index.json") is None:
            raise ManifestError(f"{r.reference} is not an OCI archive (no index.json)")

        def _idx() -> bytes:
            with tar.open_member("index.json") as f:
                return f.read(MAX_JSON + 1)

        index = _read_index(_idx, r.reference)
        return _from_index(r, src, index, r.tag, platform, cache_dir)
    if r.transport == "docker-archive":
        return _docker_archive(r, cache_dir)
    pulled = pull(r, cache_dir=cache_dir, tls_verify=tls_verify, platform=platform)
    img = open_dir(r, pulled, cache_dir)
    src_digest = (pulled / "source-digest").read_text().strip() if (pulled / "source-digest").is_file() else ""
    if src_digest:
        img.source_digest = src_digest
    return img


def _read_index(read: Any, where: str) -> dict[str, Any]:
    try:
        data = read()
    except OSError as e:
        raise ManifestError(f"cannot read index.json of {where}: {e.strerror}") from None
    if len(data) > MAX_JSON:
        raise ManifestError(f"index.json of {where} is absurdly large")
    return _json(data, f"index.json of {where}")


def _load(src: BlobSource, desc: dict[str, Any], what: str) -> bytes:
    digest = desc["digest"]
    size = desc.get("size")
    if isinstance(size, int) and size > MAX_JSON:
        raise ManifestError(f"{what} {digest} declares {size} bytes; refusing to parse it")
    data = src.read_small(digest, MAX_JSON)
    actual = sha256_digest(data) if digest.startswith("sha256:") else "sha512:" + hashlib.sha512(data).hexdigest()
    if actual != digest:
        from honed.errors import DigestMismatchError

        raise DigestMismatchError(f"{what} in {src.where}", digest, actual)
    if isinstance(size, int) and size != len(data):
        from honed.errors import DigestMismatchError

        raise DigestMismatchError(f"{what} in {src.where} (size {len(data)}, declared {size})", digest, actual)
    return data


def _pick_platform(descs: list[dict[str, Any]], platform: str, where: str) -> dict[str, Any]:
    for d in descs:
        if _platform_of(d) == platform or _platform_of(d).startswith(platform + "/"):
            return d
    have = sorted({_platform_of(d) for d in descs})
    raise ManifestError(f"{where} has no {platform} image (platforms: {', '.join(have) or 'none'})")


def _from_index(
    r: ImageRef, src: BlobSource, index: dict[str, Any], tag: str | None, platform: str, cache_dir: Path | None
) -> Image:
    where = src.where
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ManifestError(f"index.json of {where} lists no manifests")
    descs = [_descriptor(d, f"index.json of {where}") for d in manifests]
    if tag is not None:
        cands = [d for d in descs if (d.get("annotations") or {}).get(REF_NAME) == tag]
        if not cands:
            tags = sorted({str((d.get("annotations") or {}).get(REF_NAME)) for d in descs if d.get("annotations")})
            raise ManifestError(f"no image tagged {tag!r} in {where} (tags: {', '.join(tags) or 'none'})")
    else:
        cands = [d for d in descs if d["digest"] == r.digest] or descs
    if len(cands) == 1:
        chosen = cands[0]
    elif all(d.get("platform") for d in cands):
        chosen = _pick_platform(cands, platform, where)
    else:
        tags = sorted({str((d.get("annotations") or {}).get(REF_NAME)) for d in cands})
        raise ManifestError(f"{where} holds {len(cands)} images; name one with :TAG (tags: {', '.join(tags)})")
    index_digest = None
    for _depth in range(4):
        mt = chosen.get("mediaType", "")
        if mt not in INDEX_TYPES:
            break
        data = _load(src, chosen, "image index")
        index_digest = chosen["digest"]
        inner = _json(data, f"image index {chosen['digest']}")
        sub = inner.get("manifests")
        if not isinstance(sub, list) or not sub:
            raise ManifestError(f"image index {chosen['digest']} lists no manifests")
        chosen = _pick_platform([_descriptor(d, "image index") for d in sub], platform, f"index {chosen['digest']}")
    manifest_bytes = _load(src, chosen, "manifest")
    m = _json(manifest_bytes, f"manifest {chosen['digest']}")
    cfg = _descriptor(m.get("config"), f"manifest {chosen['digest']} config")
    config_bytes = _load(src, cfg, "config")
    return Image(r, src, manifest_bytes, config_bytes, cache_dir=cache_dir, index_digest=index_digest)


def open_dir(r: ImageRef, root: Path, cache_dir: Path | None = None) -> Image:
    """An image in skopeo's `dir:` format (what `pull` writes into the cache)."""
    src = DirSource(root)
    try:
        manifest_bytes = (root / "manifest.json").read_bytes()
    except OSError as e:
        raise ManifestError(f"cannot read {root}/manifest.json: {e.strerror}") from None
    m = _json(manifest_bytes, f"manifest of {r}")
    if m.get("mediaType") in INDEX_TYPES or ("manifests" in m and "layers" not in m):
        raise ManifestError(f"{r}: skopeo stored an index, not an image manifest")
    cfg = _descriptor(m.get("config"), f"manifest of {r} config")
    return Image(r, src, manifest_bytes, _load(src, cfg, "config"), cache_dir=cache_dir)


def _docker_archive(r: ImageRef, cache_dir: Path | None) -> Image:
    tar = TarSource(Path(r.reference))
    src = DockerArchiveSource(tar)
    if tar.member("manifest.json") is None:
        raise ManifestError(f"{r.reference} is not a docker-archive (no manifest.json)")
    with tar.open_member("manifest.json") as f:
        data = f.read(MAX_JSON + 1)
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"manifest.json of {r.reference} is not valid JSON ({e})") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ManifestError(f"manifest.json of {r.reference} lists no images")
    entry = _pick_docker_entry(entries, r)
    cfg_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(cfg_name, str) or not isinstance(layer_names, list):
        raise ManifestError(f"manifest.json of {r.reference}: an entry without Config or Layers")
    m = tar.member(cfg_name)
    if m is None:
        from honed.errors import MissingBlobError

        raise MissingBlobError(cfg_name, r.reference)
    if m.size > MAX_JSON:
        raise ManifestError(f"config {cfg_name} in {r.reference} is absurdly large")
    with tar.open_member(cfg_name) as f:
        config_bytes = f.read()
    config_digest = sha256_digest(config_bytes)
    config = _json(config_bytes, f"config {cfg_name}")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config.get("rootfs"), dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
        raise ManifestError(f"config {cfg_name} in {r.reference}: diff_ids do not match the {len(layer_names)} layers")
    src.names[config_digest] = cfg_name
    layers = []
    for name, diff_id in zip(layer_names, diff_ids, strict=True):
        size = tar.member_size(str(name))
        if size is None:
            from honed.errors import MissingBlobError

            raise MissingBlobError(str(diff_id), f"{r.reference} (layer file {name})")
        src.names[str(diff_id)] = str(name)
        layers.append({"mediaType": DOCKER_LAYER, "size": size, "digest": diff_id})
    # The manifest skopeo synthesises for a docker-archive, byte for byte, so both report one digest.
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
        "layers": layers,
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    return Image(r, src, manifest_bytes, config_bytes, cache_dir=cache_dir, verify_layer_blobs=False)


def _pick_docker_entry(entries: list[dict[str, Any]], r: ImageRef) -> dict[str, Any]:
    want = r.tag
    if want is None:
        if len(entries) > 1:
            raise ManifestError(f"{r.reference} holds {len(entries)} images; name one with :NAME:TAG or :@N")
        return entries[0]
    if want.startswith("@"):
        try:
            return entries[int(want[1:])]
        except (ValueError, IndexError):
            raise ManifestError(f"{r.reference} has no image number {want[1:]}") from None
    for e in entries:
        for t in e.get("RepoTags") or []:
            if t == want or t.endswith("/" + want) or t == f"docker.io/library/{want}":
                return e
    raise ManifestError(f"no image {want!r} in {r.reference}")


# --------------------------------------------------------------------------------------------- pulling


def skopeo_bin() -> str:
    exe = shutil.which("skopeo")
    if not exe:
        raise EnvironmentMissingError("skopeo is not installed", hint="apt-get install skopeo")
    return exe


def transport_string(r: ImageRef) -> str:
    """The reference in skopeo's syntax."""
    name = r.reference
    if r.transport == "docker":
        s = f"docker://{name}"
    else:
        s = f"{r.transport}:{name}"
    if r.digest and r.transport == "docker":
        return s + f"@{r.digest}"  # pull exactly that (skopeo takes a tag or a digest, not both)
    if r.tag:
        s += f":{r.tag}"
    return s


def insecure_host(r: ImageRef) -> bool:
    host = r.reference.split("/", 1)[0]
    return host.split(":", 1)[0] in ("localhost", "127.0.0.1") or host.startswith("[::1]")


def run_skopeo(args: list[str], what: str) -> bytes:
    proc = subprocess.run([skopeo_bin(), *args], capture_output=True, timeout=3600, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        msg = err[-1] if err else f"exit code {proc.returncode}"
        msg = msg.removeprefix("time=").strip()
        low = msg.lower()
        if any(k in low for k in ("not found", "unknown", "no such", "unauthorized", "denied", "does not exist",
                                  "connection refused", "no such host", "cannot connect")):
            raise ImageError(f"{what}: {msg}")
        raise ToolError(f"skopeo failed ({what}): {msg}")
    return proc.stdout


def pull(
    r: ImageRef, *, cache_dir: Path | None = None, tls_verify: bool | None = None, platform: str = DEFAULT_PLATFORM
) -> Path:
    """Copy a remote/engine image into the cache once (keyed by its manifest digest); return the dir."""
    from honed.atomic import atomic_dir, commit_dir

    src = transport_string(r)
    verify = tls_verify if tls_verify is not None else not (r.transport == "docker" and insecure_host(r))
    tls = [] if r.transport != "docker" else [f"--tls-verify={'true' if verify else 'false'}"]
    raw = run_skopeo(["inspect", "--raw", *tls, src], f"inspecting {src}")
    key = hashlib.sha256(raw).hexdigest()
    final = cache_root(cache_dir) / "pulled" / key
    if (final / "manifest.json").is_file():
        log.info("using cached copy of %s (%s)", src, key[:12])
        return final
    os_, _, arch = platform.partition("/")
    arch, _, variant = arch.partition("/")
    from honed.image.extract import sweep_stale

    sweep_stale(final.parent)
    tmp = atomic_dir(final)
    try:
        args = ["copy", "--quiet", "--override-os", os_, "--override-arch", arch]
        if variant:
            args += ["--override-variant", variant]
        if r.transport == "docker":
            args.append(f"--src-tls-verify={'true' if verify else 'false'}")
        run_skopeo([*args, src, f"dir:{tmp}"], f"pulling {src}")
        if hashlib.sha256((tmp / "manifest.json").read_bytes()).hexdigest() != key and r.transport == "docker":
            # a tag that moved between inspect and copy, or a list resolved to one platform: both fine,
            # the copy is keyed by what was asked for and verified by what it holds
            log.info("pulled manifest of %s differs from the digest it was listed under", src)
        (tmp / "source-digest").write_text(f"sha256:{key}\n")
        try:
            commit_dir(tmp, final)
        except (FileExistsError, OSError):
            shutil.rmtree(tmp, ignore_errors=True)  # another run finished first; its copy is as good
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
