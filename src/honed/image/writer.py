"""Writing an image: the base image plus changes, as new layers only where content changes.

* `drop_paths` are removed from every layer that has them (a path drops everything below it too). Only
  those layers are re-tarred; the rest keep their blobs byte for byte, so a pull shrinks by what was removed.
* `replace_files` go into one small new top layer (mode 0644, owner 0:0, mtime 0, unless a host `Path` is
  given: then its mode and mtime). A top layer keeps every base layer reusable; the files are small
  (package databases), so the duplicate bytes cost little.
* Re-tarred layers are deterministic: entries sorted by path, headers (owner, mode, mtime, xattrs) kept,
  PAX format, gzip with header mtime 0 and no file name. Same input -> same bytes -> same digests.
* No change at all -> the base manifest and config bytes are reused verbatim: same manifest digest.
* Every destination is written atomically (temp + rename); blobs are content-addressed and renamed in
  complete, and an index.json is replaced in one rename.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from honed.atomic import atomic_write
from honed.errors import DestinationExistsError, ImageError, InvalidReferenceError, OutputError
from honed.image import reference as _reference
from honed.image.extract import OPAQUE, WH, clean_name
from honed.image.image import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_NAME,
    Image,
    insecure_host,
    run_skopeo,
    transport_string,
)
from honed.image.stream import CHUNK, GZIP_MAGIC, ZSTD_MAGIC
from honed.model import ImageRef

log = logging.getLogger(__name__)

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DEFAULT_HISTORY = "honed: rewritten"


@dataclass
class _Blob:
    digest: str
    size: int
    media_type: str
    path: Path | None = None  # a new blob in the work dir; None: reuse the base image's blob
    diff_id: str = ""
    data: bytes | None = None  # small JSON blobs


@dataclass
class _Plan:
    layers: list[_Blob] = field(default_factory=list)
    changed: bool = False
    history_notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- tar output


class _HashWriter(io.RawIOBase):
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.h = hashlib.sha256()
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.h.update(b)
        self.n += len(b)
        self.out.write(b)
        return len(b)

    @property
    def digest(self) -> str:
        return "sha256:" + self.h.hexdigest()


class _ParallelGzip(io.RawIOBase):
    """gzip on every core: the stream is cut into fixed 4 MiB pieces, each compressed as its own gzip member
    (a multi-member gzip file is one valid gzip stream for every reader). Fixed cuts keep it deterministic;
    zlib releases the GIL, so the pieces compress in parallel while the tar is being built."""

    PIECE = 4 << 20

    def __init__(self, out: Any, level: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.out = out
        self.level = level
        self.buf = bytearray()
        self.workers = max(1, min(4, os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="honed-gzip")
        self.pending: list[Any] = []
        self.members = 0

    def writable(self) -> bool:
        return True

    def _submit(self, piece: bytes) -> None:
        self.pending.append(self.pool.submit(gzip.compress, piece, self.level, mtime=0))
        self.members += 1
        while len(self.pending) > self.workers * 2:
            self.out.write(self.pending.pop(0).result())

    def write(self, b: Any) -> int:  # type: ignore[override]
        self.buf += b
        while len(self.buf) >= self.PIECE:
            piece = bytes(self.buf[: self.PIECE])
            del self.buf[: self.PIECE]
            self._submit(piece)
        return len(b)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.buf or not self.members:
                self._submit(bytes(self.buf))
                self.buf = bytearray()
            for f in self.pending:
                self.out.write(f.result())
            self.pending = []
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            super().close()


def under_drops(rel: str, drops: frozenset[str]) -> bool:
    """rel is a dropped path or lies below one."""
    if rel in drops:
        return True
    i = rel.find("/")
    while i != -1:
        if rel[:i] in drops:
            return True
        i = rel.find("/", i + 1)
    return False


def _sort_key(rel: str) -> tuple[str, ...]:
    return tuple(rel.split("/"))  # parents before children, siblings by name


Entry = tuple[str, tarfile.TarInfo, "tarfile.TarFile | None", "bytes | None"]


def _link_target(ti: tarfile.TarInfo) -> str:
    return ti.linkname if ti.linkname.startswith("/") else clean_name(ti.linkname, "")


def _write_tar(entries: list[Entry], work: Path, level: int, sources: Mapping[str, Entry] | None = None) -> _Blob:
    """Write entries (rel, header, source tar or None, data or None) sorted by path as a gzip layer.

    Hardlinks are regrouped so the first member of each group in sorted order carries the data: sorting must
    never put a link before its target, and a dropped target (still in `sources`) must not orphan its links.
    """
    kept = {e[0]: e for e in entries}
    src_of = dict(sources or {})
    src_of.update(kept)
    links: dict[str, list[str]] = {}
    for rel, ti, _s, _d in entries:
        if ti.islnk():
            links.setdefault(_link_target(ti), []).append(rel)
    leader: dict[str, str] = {}  # group target -> member that carries the data
    for target, members in links.items():
        t = src_of.get(target)
        if t is None or not t[1].isreg():
            continue  # target in a lower layer: the links stay links
        ordered = sorted(members + ([target] if target in kept else []), key=_sort_key)
        leader[target] = ordered[0]
    fd, tmp = tempfile.mkstemp(prefix=".layer.", dir=work)
    with os.fdopen(fd, "wb") as raw:
        blob = _HashWriter(raw)
        gz = _ParallelGzip(blob, level)
        tar_h = _HashWriter(gz)  # type: ignore[arg-type]
        with tarfile.open(fileobj=tar_h, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as out:  # type: ignore[call-overload]
            for rel, ti, src, data in sorted(entries, key=lambda e: _sort_key(e[0])):
                content = ti  # the header whose data is copied
                group = _link_target(ti) if ti.islnk() else rel if (ti.isreg() and rel in leader) else None
                if group is not None and group in leader:
                    _t_rel, t_ti, t_src, t_data = src_of[group]
                    lead = leader[group]
                    name = ti.name
                    ti = copy.copy(t_ti)
                    if lead == rel:  # carries the data, with the target's header under its own name
                        ti.name = name
                        content, src, data = t_ti, t_src, t_data
                    else:
                        ti.name, ti.type, ti.linkname, ti.size = name, tarfile.LNKTYPE, kept[lead][1].name, 0
                else:
                    ti = copy.copy(ti)
                ti.pax_headers = dict(ti.pax_headers)
                if ti.isreg():
                    if data is not None:
                        out.addfile(ti, io.BytesIO(data))
                    else:
                        assert src is not None
                        out.addfile(ti, src.extractfile(content))
                else:
                    ti.size = 0
                    out.addfile(ti)
        gz.close()
    final = work / blob.digest.split(":")[1]
    os.replace(tmp, final)
    return _Blob(blob.digest, blob.n, OCI_LAYER_GZIP, final, tar_h.digest)


# ----------------------------------------------------------------------------------------- layer plans


def _decompress_to(image: Image, layer_idx: int, work: Path) -> Path:
    """The layer's uncompressed tar in a temp file (verified), for random access while rewriting."""
    layer = image.layers[layer_idx]
    fd, tmp = tempfile.mkstemp(prefix=".tar.", dir=work)
    with os.fdopen(fd, "wb") as out, image.layer_tar(layer) as (stream, hasher):
        buf = bytearray(CHUNK)
        while n := stream.readinto(buf):
            out.write(memoryview(buf)[:n])
        hasher.drain_and_check()
    return Path(tmp)


def _layer_names(path: Path) -> list[tuple[str, tarfile.TarInfo]]:
    with tarfile.open(path, "r:") as tf:
        return [(clean_name(m.name, str(path)), m) for m in tf.getmembers()]


def _reused(image: Image, i: int) -> _Blob:
    layer = image.layers[i]
    with image.source.open(layer.digest) as f:
        head = f.read(4)
    media = OCI_LAYER_GZIP if head.startswith(GZIP_MAGIC) else OCI_LAYER_ZSTD if head.startswith(ZSTD_MAGIC) \
        else OCI_LAYER_TAR
    return _Blob(layer.digest, layer.size or (image.source.size(layer.digest) or 0), media, None, layer.diff_id)


def _plan(
    image: Image,
    drops: frozenset[str],
    replace: Mapping[str, bytes | Path],
    squash: bool,
    work: Path,
    level: int,
) -> _Plan:
    plan = _Plan()
    if squash:
        plan.layers.append(_squash(image, drops, work, level))
        plan.changed = True
        plan.history_notes.append("squashed")
    else:
        for i, layer in enumerate(image.layers):
            if not drops:
                plan.layers.append(_reused(image, i))
                continue
            tmp = _decompress_to(image, i, work)
            try:
                names = _layer_names(tmp)
                if not any(under_drops(rel, drops) for rel, _ in names if rel):
                    plan.layers.append(_reused(image, i))
                    continue
                with tarfile.open(tmp, "r:") as tf:
                    kept: list[Entry] = []
                    sources: dict[str, Entry] = {}
                    here = {rel for rel, _ in names}
                    dropped_here = 0
                    for rel, m in names:
                        if not rel:
                            continue
                        sources[rel] = (rel, m, tf, None)
                        if under_drops(rel, drops):
                            dropped_here += 1
                            continue
                        if m.islnk() and under_drops(_link_target(m), drops) and _link_target(m) not in here:
                            dropped_here += 1  # a link to a dropped file of a lower layer: nothing to carry
                            continue
                        kept.append((rel, m, tf, None))
                    log.info("layer %s: dropping %d entries", layer.digest[:19], dropped_here)
                    plan.layers.append(_write_tar(kept, work, level, sources))
                    plan.changed = True
            finally:
                tmp.unlink(missing_ok=True)
    if replace:
        entries = [(rel, ti, None, data) for rel, ti, data in (replace_entry(p, c) for p, c in sorted(replace.items()))]
        plan.layers.append(_write_tar(entries, work, level))  # type: ignore[arg-type]
        plan.changed = True
    return plan


def replace_entry(path: str, content: bytes | Path) -> tuple[str, tarfile.TarInfo, bytes]:
    """The layer entry of a replaced file: (tar name, header, data). Content from a Path keeps its mode and
    mtime; bytes get 0644 and mtime 0 (reproducible)."""
    rel = clean_name(path.lstrip("/"), "replace_files")
    ti = tarfile.TarInfo(rel)
    ti.mode, ti.uid, ti.gid, ti.mtime = 0o644, 0, 0, 0
    if isinstance(content, Path):
        s = content.stat()
        ti.mode, ti.mtime = s.st_mode & 0o7777, int(s.st_mtime)
        data = content.read_bytes()
    else:
        data = bytes(content)
    ti.size = len(data)
    return rel, ti, data


def _squash(image: Image, drops: frozenset[str], work: Path, level: int) -> _Blob:
    """One layer holding the final filesystem: whiteouts applied in memory over the layers' tars."""
    tars: list[tarfile.TarFile] = []
    paths: list[Path] = []
    final: dict[str, tuple[tarfile.TarInfo, tarfile.TarFile, int]] = {}
    try:
        for i, layer in enumerate(image.layers):
            p = _decompress_to(image, i, work)
            paths.append(p)
            tf = tarfile.open(p, "r:")
            tars.append(tf)
            this: set[str] = set()
            for m in tf.getmembers():
                rel = clean_name(m.name, layer.digest)
                if not rel:
                    continue
                parent, _, base = rel.rpartition("/")
                if base == OPAQUE:
                    pre = parent + "/" if parent else ""
                    for k in [k for k in final if k.startswith(pre) and k not in this]:
                        del final[k]
                    continue
                if base.startswith(WH):
                    gone = (parent + "/" if parent else "") + base[len(WH):]
                    for k in [k for k in final if (k == gone or k.startswith(gone + "/")) and k not in this]:
                        del final[k]
                    continue
                old = final.get(rel)
                if old is not None and old[0].isdir() and not m.isdir():
                    for k in [k for k in final if k.startswith(rel + "/")]:
                        del final[k]
                final[rel] = (m, tf, i)
                this.add(rel)
        entries = [(rel, m, tf, None) for rel, (m, tf, _i) in final.items() if not under_drops(rel, drops)
                   and not (m.ischr() or m.isblk())]
        # hardlinks whose target came from another layer become plain links to the final path's file
        return _write_tar(entries, work, level)  # type: ignore[arg-type]
    finally:
        for tf in tars:
            tf.close()
        for p in paths:
            p.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------- config, manifest


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _build(
    base: Image,
    plan: _Plan,
    labels: Mapping[str, str | None],
    annotations: Mapping[str, str],
    history: str | None,
    squash: bool,
    new_top: bool,
) -> tuple[bytes, bytes]:
    """(config bytes, manifest bytes)."""
    unchanged = not plan.changed and not labels and not annotations and not history
    # An OCI base written back unchanged keeps its bytes. Docker schema-2 bases get an OCI manifest (skopeo and
    # podman ignore other manifest types in an OCI layout; docker-archive's synthetic manifest even labels
    # plain tars gzip), their config bytes kept.
    oci_base = base.manifest.get("mediaType", OCI_MANIFEST) == OCI_MANIFEST and base._verify_layer_blobs
    if unchanged and oci_base:
        return base.config_bytes, base.manifest_bytes
    if unchanged:
        cfg_bytes = base.config_bytes
        return cfg_bytes, _dumps(_manifest(cfg_bytes, plan, dict(base.manifest.get("annotations") or {})))
    cfg = copy.deepcopy(base.config)
    cfg["rootfs"] = {"type": "layers", "diff_ids": [b.diff_id for b in plan.layers]}
    inner = cfg.setdefault("config", {})
    if labels:
        lab = dict(inner.get("Labels") or {})
        for k, v in labels.items():
            if v is None:
                lab.pop(k, None)
            else:
                lab[k] = v
        inner["Labels"] = dict(sorted(lab.items()))
    text = history or DEFAULT_HISTORY
    hist = base.history
    if squash:
        hist = [{"created_by": f"{text} (squashed {len(base.layers)} layers)", "comment": "honed"}]
        if new_top:
            hist.append({"created_by": f"{text} (replaced files)", "comment": "honed"})
    else:
        hist = copy.deepcopy(hist)
        if new_top:
            hist.append({"created_by": f"{text} (replaced files)", "comment": "honed"})
        elif plan.changed or history:
            hist.append({"created_by": text, "comment": "honed", "empty_layer": True})
    cfg["history"] = hist
    created = base.config.get("created")
    if created:
        for h in hist:
            if h.get("comment") == "honed":
                h.setdefault("created", created)  # no wall clock: the same input gives the same digest
    cfg_bytes = _dumps(cfg)
    ann = dict(base.manifest.get("annotations") or {})
    ann.update(annotations)
    return cfg_bytes, _dumps(_manifest(cfg_bytes, plan, ann))


def _manifest(cfg_bytes: bytes, plan: _Plan, annotations: Mapping[str, str]) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": _sha(cfg_bytes), "size": len(cfg_bytes)},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in plan.layers],
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    return manifest


# ---------------------------------------------------------------------------------------- destinations


def _copy_blob(base: Image, b: _Blob, dest: Path) -> None:
    """Put one blob at dest (temp + rename; skip when a complete copy is there)."""
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if b.path is not None:
        if b.path.parent == dest.parent or b.path.stat().st_dev == dest.parent.stat().st_dev:
            os.replace(b.path, dest)
            return
    fd, tmp = tempfile.mkstemp(prefix=".blob.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if b.data is not None:
                out.write(b.data)
            elif b.path is not None:
                with open(b.path, "rb") as f:
                    shutil.copyfileobj(f, out, CHUNK)
            else:
                src = base.open_blob(b.digest, None, f"layer {b.digest}") if base._verify_layer_blobs else None
                if src is None:  # docker-archive: the blob is named by its diff_id; copy as is
                    with base.source.open(b.digest) as f:
                        shutil.copyfileobj(f, out, CHUNK)
                else:
                    with src:
                        shutil.copyfileobj(src, out, CHUNK)  # type: ignore[misc]
                        src.check()
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_layout(base: Image, root: Path, blobs: Iterable[_Blob], manifest: _Blob, tag: str) -> None:
    """Add blobs and a tagged manifest to an OCI layout at `root` (created if missing)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "oci-layout").exists():
        atomic_write(root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for b in [*blobs, manifest]:
        _copy_blob(base, b, root / "blobs" / "sha256" / b.digest.split(":")[1])
    idx_path = root / "index.json"
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if idx_path.exists():
        try:
            index = json.loads(idx_path.read_bytes())
        except ValueError as e:
            raise ImageError(f"index.json of {root} is not valid JSON ({e}); refusing to add to it") from None
    kept = [d for d in index.get("manifests", []) if (d.get("annotations") or {}).get(REF_NAME) != tag]
    kept.append({"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
                 "annotations": {REF_NAME: tag}})
    index["manifests"] = kept
    atomic_write(idx_path, json.dumps(index, separators=(",", ":")).encode())


def _tar_dir(src: Path, out: Path) -> None:
    """A deterministic tar of a layout: sorted, mtime 0, owner 0."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for p in sorted(src.rglob("*"), key=lambda p: _sort_key(str(p.relative_to(src)))):
                ti = tf.gettarinfo(str(p), arcname=str(p.relative_to(src)))
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
                ti.mode = 0o755 if ti.isdir() else 0o644
                if ti.isreg():
                    with open(p, "rb") as fh:
                        tf.addfile(ti, fh)
                else:
                    tf.addfile(ti)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(
    base: Image,
    dest: str | ImageRef,
    *,
    drop_paths: Iterable[str] = (),
    replace_files: Mapping[str, bytes | Path] | None = None,
    labels: Mapping[str, str | None] | None = None,
    annotations: Mapping[str, str] | None = None,
    squash: bool = False,
    history: str | None = None,
    force: bool = False,
    compression_level: int = 6,
    tls_verify: bool | None = None,
) -> ImageRef:
    """Write `base` plus changes to `dest` (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG],
    docker://REG/REPO:TAG, containers-storage:NAME:TAG). Returns the written reference with its digest."""
    d = _reference.parse(dest)
    if d.transport == "docker-daemon":
        raise InvalidReferenceError(str(dest), "writing to a Docker daemon is not supported; use docker-archive")
    drops = frozenset(clean_name(p.lstrip("/"), "drop_paths") for p in drop_paths) - {""}
    replace = dict(replace_files or {})
    tag = d.tag or "latest"
    if d.transport in ("oci-archive", "docker-archive"):
        if Path(d.reference).exists() and not force:
            raise DestinationExistsError(d.reference)
    elif d.transport == "oci":
        root = Path(d.reference)
        if root.exists() and not (root / "oci-layout").is_file() and any(root.iterdir()):
            raise DestinationExistsError(f"{root} (not an OCI layout)")
    parent = Path(d.reference).resolve().parent if d.transport in ("oci", "oci-archive", "docker-archive") \
        else base.cache_dir
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".honed-write.", dir=parent))
    except OSError as e:  # a destination in a missing or read-only place: the user's input, not a crash
        raise OutputError(f"cannot write {d.reference}: {e.strerror or e}") from e
    try:
        plan = _plan(base, drops, replace, squash, work, compression_level)
        cfg_bytes, man_bytes = _build(base, plan, labels or {}, annotations or {}, history, squash, bool(replace))
        blobs = [*plan.layers, _Blob(_sha(cfg_bytes), len(cfg_bytes), OCI_CONFIG, data=cfg_bytes)]
        man_type = json.loads(man_bytes).get("mediaType") or OCI_MANIFEST
        manifest = _Blob(_sha(man_bytes), len(man_bytes), man_type, data=man_bytes)
        if d.transport == "oci":
            root = Path(d.reference)
            if root.exists():
                _write_layout(base, root, blobs, manifest, tag)
            else:
                tmp_layout = work / "layout"
                _write_layout(base, tmp_layout, blobs, manifest, tag)
                try:
                    os.rename(tmp_layout, root)
                except OSError:
                    raise DestinationExistsError(str(root)) from None
        else:
            tmp_layout = work / "layout"
            _write_layout(base, tmp_layout, blobs, manifest, tag)
            if d.transport == "oci-archive":
                _tar_dir(tmp_layout, Path(d.reference))
            elif d.transport == "docker-archive":
                out = work / "out.tar"
                name = f":{d.tag}" if d.tag else ""
                run_skopeo(["copy", "--quiet", f"oci:{tmp_layout}:{tag}", f"docker-archive:{out}{name}"],
                           f"writing {dest}")
                # a docker-archive has no manifest of its own: report the one skopeo (and honed) derive for it
                from honed.image.image import _docker_archive

                digest = _docker_archive(ImageRef("docker-archive", str(out)), None).manifest_digest
                os.replace(out, Path(d.reference))
                return ImageRef(d.transport, d.reference, d.tag, digest)
            else:  # docker://, containers-storage:
                verify = tls_verify if tls_verify is not None else not (d.transport == "docker" and insecure_host(d))
                args = ["copy", "--quiet", "--digestfile", str(work / "digest")]
                if d.transport == "docker":
                    args.append(f"--dest-tls-verify={'true' if verify else 'false'}")
                target = transport_string(ImageRef(d.transport, d.reference, tag))
                run_skopeo([*args, f"oci:{tmp_layout}:{tag}", target], f"writing {target}")
                digest = (work / "digest").read_text().strip() or manifest.digest
                return ImageRef(d.transport, d.reference, tag, digest)
        return ImageRef(d.transport, d.reference, d.tag if d.transport != "oci" else tag, manifest.digest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
