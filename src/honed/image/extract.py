"""Safe layer extraction: layers applied in order with whiteouts and opaque directories, into a private
directory, with a map of path -> diff_id of the layer that last wrote it.

Safety rests on one invariant: `_Tree.kinds` records the type of every path this extraction created, and an
entry is written only when its parent is recorded as a real directory *we* made. So the extraction never
follows a symlink in the destination (an entry beneath a symlink is refused, not resolved), never writes
outside `dest`, and creates the final component with O_CREAT|O_EXCL|O_NOFOLLOW after unlinking whatever was
there. Entry names with `..` or a leading `/`, hardlinks to anything but an entry already extracted, and
whiteouts naming `.`/`..` end in `PathEscapeError`; device nodes are skipped and recorded.
Symlink *targets* are kept verbatim (absolute ones are normal in images): `DirRootFS.resolve` confines them.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import posixpath
import shutil
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from honed.errors import CorruptLayerError, EnvironmentMissingError, HonedError, PathEscapeError
from honed.image.rootfs import DirRootFS
from honed.model import Layer

if TYPE_CHECKING:
    from honed.image.image import Image

log = logging.getLogger(__name__)

DIR, REG, LNK, OTHER = 1, 2, 3, 4
WH = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_ENTRY = 1 << 40  # 1 TiB: a single tar member bigger than this is hostile
TAR_BUF = 1 << 20
_ROOT = os.geteuid() == 0
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def max_unpacked() -> int:
    """Cap on the bytes one extraction writes (a decompression bomb stops here): HONED_MAX_UNPACKED, 64 GiB."""
    try:
        return int(os.environ.get("HONED_MAX_UNPACKED", "")) or (64 << 30)
    except ValueError:
        return 64 << 30


def clean_name(name: str, layer: str) -> str:
    """A tar entry name as a relative path ('' for the root); PathEscapeError for `..` or absolute names."""
    if name.startswith("/"):
        raise PathEscapeError(name, layer, "is an absolute path")
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise PathEscapeError(name, layer, "contains '..'")
    if "\x00" in name:
        raise PathEscapeError(name, layer, "contains a NUL byte")
    return "/".join(parts)


@dataclass
class Skipped:
    path: str
    layer: str
    why: str


@dataclass
class _Tree:
    """What this extraction has created: kinds, children, and which layer wrote each path."""

    root: str
    kinds: dict[str, int] = field(default_factory=lambda: {"": DIR})
    children: dict[str, set[str]] = field(default_factory=lambda: {"": set()})
    written: dict[str, int] = field(default_factory=dict)  # path -> layer index
    layer_of: dict[str, str] = field(default_factory=dict)  # path -> diff_id
    dir_meta: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # mode, uid, gid, mtime
    skipped: list[Skipped] = field(default_factory=list)
    unpacked: int = 0
    current: str | None = None  # the entry being applied, for error messages

    # -- bookkeeping --------------------------------------------------------------------------------
    def _add(self, rel: str, kind: int) -> None:
        self.kinds[rel] = kind
        parent, _, base = rel.rpartition("/")
        self.children[parent].add(base)
        if kind == DIR:
            self.children.setdefault(rel, set())

    def _forget(self, rel: str) -> None:
        stack = [rel]
        while stack:
            p = stack.pop()
            self.kinds.pop(p, None)
            self.written.pop(p, None)
            self.layer_of.pop(p, None)
            self.dir_meta.pop(p, None)
            for c in self.children.pop(p, ()):
                stack.append(f"{p}/{c}")
        parent, _, base = rel.rpartition("/")
        ch = self.children.get(parent)
        if ch is not None:
            ch.discard(base)

    def remove(self, rel: str) -> None:
        """Delete an entry we created (and, for a directory, all below it). Never follows symlinks."""
        kind = self.kinds.get(rel)
        if kind is None:
            return
        host = f"{self.root}/{rel}"
        if kind == DIR:
            shutil.rmtree(host)  # fd-based and symlink-safe on Linux
        else:
            os.unlink(host)
        self._forget(rel)

    # -- parents ------------------------------------------------------------------------------------
    def ensure_parent(self, rel: str, name: str, layer: str, li: int) -> str:
        parent = rel.rpartition("/")[0]
        if self.kinds.get(parent) == DIR:  # the common case: one dict lookup
            return parent
        cur = ""
        for part in parent.split("/"):
            cur = f"{cur}/{part}" if cur else part
            k = self.kinds.get(cur)
            if k == DIR:
                continue
            if k == LNK:
                raise PathEscapeError(name, layer, f"goes through the symlink /{cur} (never followed)")
            if k is not None:  # a file where a directory must be: the directory replaces it
                self.remove(cur)
            os.mkdir(f"{self.root}/{cur}", 0o755)
            self._add(cur, DIR)
            self.written[cur] = li
        return parent


def _apply_meta(fd_or_path: int | str, m: tarfile.TarInfo, *, link: bool = False) -> None:
    # Files are created by us (root: 0:0) with the entry's mode already; only differences cost a syscall.
    if _ROOT and (m.uid or m.gid):
        try:
            if isinstance(fd_or_path, int):
                os.fchown(fd_or_path, m.uid, m.gid)
            else:
                os.chown(fd_or_path, m.uid, m.gid, follow_symlinks=False)
        except OSError:
            pass
    if link:
        return
    if isinstance(fd_or_path, int):
        mode = m.mode & 0o7777
        if mode & ~0o777 or mode & _UMASK or (m.uid or m.gid) or not _ROOT:
            os.fchmod(fd_or_path, mode)  # chown clears set-id bits, so this comes after it
        mt = int(m.mtime)
        os.utime(fd_or_path, (mt, mt))


def _xattrs(fd: int, m: tarfile.TarInfo) -> None:
    for k, v in m.pax_headers.items():
        if k.startswith("SCHILY.xattr."):
            try:
                os.setxattr(fd, k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"))
            except OSError:
                pass  # e.g. security.* without privilege: the file is still right


def _apply_layer(tree: _Tree, tf: tarfile.TarFile, layer: Layer, li: int, limit: int) -> None:
    name_for_errors = layer.digest
    diff_id = layer.diff_id
    root = tree.root
    kinds = tree.kinds
    for m in _members(tf):
        tree.current = m.name
        rel = clean_name(m.name, name_for_errors)
        if not rel:
            continue  # "./": the root itself
        parent, _, base = rel.rpartition("/")
        if base.startswith(WH):
            if kinds.get(parent) == LNK or (parent and kinds.get(parent) is None and _through_link(tree, parent)):
                raise PathEscapeError(m.name, name_for_errors, "is a whiteout beneath a symlink")
            if base == OPAQUE:
                if kinds.get(parent) == DIR:
                    for child in sorted(tree.children.get(parent, ())):
                        c = f"{parent}/{child}" if parent else child
                        if tree.written.get(c) != li:
                            tree.remove(c)
                continue
            target = base[len(WH):]
            if target in ("", ".", "..") or target.startswith(WH):
                raise PathEscapeError(m.name, name_for_errors, "is a whiteout naming no entry")
            victim = f"{parent}/{target}" if parent else target
            if tree.written.get(victim) != li:  # a whiteout hides lower layers only, never its own layer
                tree.remove(victim)
            continue
        if m.size > MAX_ENTRY or m.size < 0:
            raise CorruptLayerError(name_for_errors, f"absurd entry size {m.size}", m.name)
        tree.ensure_parent(rel, m.name, name_for_errors, li)
        host = f"{root}/{rel}"
        existing = kinds.get(rel)
        if m.isdir():
            if existing != DIR:
                if existing is not None:
                    tree.remove(rel)
                os.mkdir(host, 0o700)
                tree._add(rel, DIR)
            if _ROOT:
                try:
                    os.chown(host, m.uid, m.gid, follow_symlinks=False)
                except OSError:
                    pass
            tree.dir_meta[rel] = (m.mode & 0o7777, m.uid, m.gid, int(m.mtime))
        else:
            if existing is not None:
                tree.remove(rel)
            if m.isreg():
                tree.unpacked += m.size
                if tree.unpacked > limit:
                    raise CorruptLayerError(
                        name_for_errors, f"unpacks to more than {limit} bytes (HONED_MAX_UNPACKED)", m.name
                    )
                fd = os.open(host, _OPEN_FLAGS, m.mode & 0o777)
                try:
                    if m.size:
                        src = tf.extractfile(m)
                        assert src is not None
                        left = m.size
                        while left:
                            chunk = src.read(min(left, TAR_BUF))
                            if not chunk:
                                raise CorruptLayerError(name_for_errors, "the tar stream ends inside a file", m.name)
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(fd, view):]
                            left -= len(chunk)
                    if m.pax_headers:
                        _xattrs(fd, m)
                    _apply_meta(fd, m)
                finally:
                    os.close(fd)
                tree._add(rel, REG)
            elif m.issym():
                os.symlink(m.linkname, host)
                _apply_meta(host, m, link=True)
                tree._add(rel, LNK)
            elif m.islnk():
                trel = clean_name(m.linkname, name_for_errors) if not m.linkname.startswith("/") else None
                if trel is None:
                    raise PathEscapeError(m.name, name_for_errors, f"is a hardlink to the absolute path {m.linkname!r}")
                tk = kinds.get(trel)
                if tk is None:
                    raise CorruptLayerError(name_for_errors, f"hardlink target {m.linkname!r} does not exist", m.name)
                if tk == DIR:
                    raise CorruptLayerError(name_for_errors, f"hardlink to the directory {m.linkname!r}", m.name)
                os.link(f"{root}/{trel}", host, follow_symlinks=False)
                tree._add(rel, tk)
            elif m.isfifo():
                os.mkfifo(host, 0o600)
                tree._add(rel, OTHER)
            else:  # character and block devices: never created; the runtime supplies /dev
                tree.skipped.append(Skipped("/" + rel, name_for_errors, f"device node ({m.type!r}) not extracted"))
                continue
        tree.written[rel] = li
        tree.layer_of[rel] = diff_id


def _through_link(tree: _Tree, parent: str) -> bool:
    cur = ""
    for part in parent.split("/"):
        cur = f"{cur}/{part}" if cur else part
        if tree.kinds.get(cur) == LNK:
            return True
    return False


class _Forward(io.RawIOBase):
    """A forward-only 'seekable' view of a stream, so tarfile can run in its random-access mode over a
    decompressing pipe: its stream mode re-slices a buffer on every header read, which costs more."""

    def __init__(self, src: Any) -> None:
        self._src = src
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, off: int, whence: int = 0) -> int:
        if whence == 1:
            off += self._pos
        elif whence != 0:
            raise OSError("only absolute forward seeks")
        if off < self._pos:
            raise OSError("backward seek on a layer stream")
        while off > self._pos:
            skipped = self._src.read(min(off - self._pos, TAR_BUF))
            if not skipped:
                raise tarfile.ReadError("unexpected end of data")
            self._pos += len(skipped)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        b = self._src.read(n)
        self._pos += len(b)
        return bytes(b)

    def readinto(self, b: Any) -> int:
        n = int(self._src.readinto(b) or 0)
        self._pos += n
        return n


def _open_tar(stream: Any) -> tarfile.TarFile:
    return tarfile.TarFile(fileobj=_Forward(io.BufferedReader(stream, TAR_BUF)), mode="r")


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Iterate without keeping every header in memory (tarfile's __iter__ re-reads past its list)."""
    for m in tf:
        yield m
        tf.members.clear()  # type: ignore[attr-defined]


def _layer_errors(layer: Layer, current: str | None, e: BaseException) -> HonedError:
    if isinstance(e, HonedError):
        return e
    reason = str(e) or type(e).__name__
    if isinstance(e, tarfile.TarError | EOFError):
        return CorruptLayerError(layer.digest, f"invalid tar stream ({reason})", current)
    if isinstance(e, zlib.error):
        return CorruptLayerError(layer.digest, f"corrupt compressed data ({reason})", current)
    if isinstance(e, UnicodeError):
        return CorruptLayerError(layer.digest, f"undecodable entry name ({reason})", current)
    raise e


def extract_into(image: Image, dest: Path) -> _Tree:
    dest.mkdir(mode=0o755)
    tree = _Tree(str(dest))
    limit = max_unpacked()
    for li, layer in enumerate(image.layers):
        log.debug("extracting layer %d/%d %s", li + 1, len(image.layers), layer.digest)
        with image.layer_tar(layer) as (stream, hasher):
            try:
                tf = _open_tar(stream)
                _apply_layer(tree, tf, layer, li, limit)
                hasher.drain_and_check()
            except (tarfile.TarError, EOFError, zlib.error, UnicodeError) as e:
                raise _layer_errors(layer, tree.current, e) from None
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise EnvironmentMissingError(
                        f"no space left in {dest.parent} while extracting layer {layer.digest}",
                        hint="free some space or point HONED_CACHE elsewhere",
                    ) from None
                # e.g. ENAMETOOLONG, ELOOP: the entry cannot exist on a Linux filesystem
                raise CorruptLayerError(layer.digest, f"cannot create entry ({e.strerror})", tree.current) from None
    # Directory modes and mtimes last: a 0555 directory must not stop its own contents being written.
    for rel in sorted(tree.dir_meta, key=len, reverse=True):
        mode, _uid, _gid, mtime = tree.dir_meta[rel]
        host = f"{tree.root}/{rel}"
        os.chmod(host, mode, follow_symlinks=False)
        os.utime(host, (mtime, mtime), follow_symlinks=False)
    for rel, kind in tree.kinds.items():
        if kind == DIR and rel and rel not in tree.dir_meta:  # implied parents
            os.chmod(f"{tree.root}/{rel}", 0o755)
    for s in tree.skipped:
        log.info("skipped %s in layer %s: %s", s.path, s.layer, s.why)
    return tree


def extract(image: Image, dest: Path) -> dict[str, str]:
    """A fresh, safe extraction of `image` into `dest` (which must not exist). Returns path -> diff_id.
    On any error nothing is left at `dest`."""
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        from honed.errors import DestinationExistsError

        raise DestinationExistsError(str(dest))
    try:
        tree = extract_into(image, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return {"/" + k: v for k, v in sorted(tree.layer_of.items())}


def cached_rootfs(image: Image) -> DirRootFS:
    """Extract once per manifest digest into the cache (temp dir + rename), layer map saved beside it."""
    from honed.atomic import atomic_dir, commit_dir

    final = image_cache_dir(image)
    mapfile = final / "layers.json"
    if mapfile.is_file():
        return DirRootFS(final / "root", _load_map(mapfile))
    sweep_stale(final.parent)
    tmp = atomic_dir(final)
    try:
        tree = extract_into(image, tmp / "root")
        layer_map = {"/" + k: v for k, v in sorted(tree.layer_of.items())}
        doc = {
            "manifest_digest": image.manifest_digest,
            "layers": layer_map,
            "skipped": [s.__dict__ for s in tree.skipped],
        }
        (tmp / "layers.json").write_text(json.dumps(doc, separators=(",", ":")))
        try:
            commit_dir(tmp, final)
        except OSError:  # another run got there first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DirRootFS(final / "root", layer_map)


def derive_rootfs(
    base: Image, image: Image, *, drop_paths: Iterable[str] = (), replace_files: Mapping[str, bytes | Path] | None = None
) -> DirRootFS | None:
    """Seed the cached rootfs of `image` — `base` rewritten by `writer.write_image(base, …, drop_paths,
    replace_files)` — from `base`'s extraction instead of reading `image`'s layers again: every kept file is a
    hardlink to the base's (both caches are read-only), directories, symlinks and fifos are recreated with
    their metadata, the replaced files are written as extraction would write them. The result is the tree
    extracting `image` gives. None (nothing done) when `base` is not extracted, the layers do not line up, or
    the cache is on another filesystem; `image.rootfs()` then extracts as usual."""
    from honed.atomic import atomic_dir, commit_dir
    from honed.image.writer import replace_entry
    from honed.image.writer import under_drops as under

    replace = dict(replace_files or {})
    src_dir = image_cache_dir(base)
    final = image_cache_dir(image)
    if not (src_dir / "layers.json").is_file():
        return None
    if (final / "layers.json").is_file():
        return DirRootFS(final / "root", _load_map(final / "layers.json"))
    old, new = base.layers, image.layers
    if len(new) == len(old) + (1 if replace else 0):
        layer_of = {o.diff_id: n.diff_id for o, n in zip(old, new, strict=False)}
        name_of = {o.digest: n.digest for o, n in zip(old, new, strict=False)}
    elif len(new) == 1:  # squashed
        layer_of = {o.diff_id: new[0].diff_id for o in old}
        name_of = {o.digest: new[0].digest for o in old}
    else:
        return None
    drops = frozenset(clean_name(p.lstrip("/"), "drop_paths") for p in drop_paths) - {""}

    entries = {rel: (rel, ti, data) for rel, ti, data in (replace_entry(p, c) for p, c in replace.items())}
    gone = drops | frozenset(entries)  # a replaced path's old entry (and anything below it) goes too

    def dropped(rel: str) -> bool:
        return under(rel, gone)

    sroot = str(src_dir / "root")
    doc = json.loads((src_dir / "layers.json").read_text())
    base_map: dict[str, str] = doc["layers"]
    sweep_stale(final.parent)
    tmp = atomic_dir(final)
    try:
        root = str(tmp / "root")
        os.mkdir(root, 0o700)
        dirs: list[tuple[str, os.stat_result]] = [("", os.lstat(sroot))]
        stack = [""]
        while stack:
            d = stack.pop()
            with os.scandir(f"{sroot}/{d}" if d else sroot) as it:
                for e in it:
                    rel = f"{d}/{e.name}" if d else e.name
                    if dropped(rel):
                        continue
                    src, dst = e.path, f"{root}/{rel}"
                    st_ = e.stat(follow_symlinks=False)
                    if e.is_dir(follow_symlinks=False):
                        os.mkdir(dst, 0o700)
                        dirs.append((rel, st_))
                        stack.append(rel)
                    elif e.is_symlink():
                        os.symlink(os.readlink(src), dst)
                        if _ROOT and (st_.st_uid or st_.st_gid):
                            os.chown(dst, st_.st_uid, st_.st_gid, follow_symlinks=False)
                    elif e.is_file(follow_symlinks=False):
                        os.link(src, dst, follow_symlinks=False)  # EXDEV: another filesystem → None below
                    else:  # a fifo (extraction creates nothing else), made as extraction makes it
                        os.mkfifo(dst, 0o600)
        for rel, ti, data in entries.values():
            fd = os.open(f"{root}/{rel}", _OPEN_FLAGS, ti.mode & 0o777)  # parent missing → OSError → None
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                _apply_meta(fd, ti)
            finally:
                os.close(fd)
        skip_parents = {  # extraction makes the parents of a device node it skips
            s["path"][1:].rsplit("/", i)[0] for s in doc.get("skipped", ()) if not dropped(s["path"][1:])
            for i in range(1, s["path"].count("/"))
        }
        for rel, st_ in reversed(dirs):  # modes last (a 0555 directory must not stop its own contents)
            host = f"{root}/{rel}" if rel else root
            if rel and "/" + rel not in base_map and rel not in skip_parents and not os.listdir(host):
                os.rmdir(host)  # a parent only implied by entries that all went: extraction has none
                continue
            if _ROOT:
                os.chown(host, st_.st_uid, st_.st_gid, follow_symlinks=False)
            os.chmod(host, st_.st_mode & 0o7777)
            os.utime(host, ns=(st_.st_atime_ns, st_.st_mtime_ns))
        top = new[-1].diff_id
        layer_map = {p: layer_of.get(v, v) for p, v in base_map.items() if not dropped(p[1:])}
        layer_map.update({"/" + rel: top for rel in entries})
        doc = {
            "manifest_digest": image.manifest_digest,
            "layers": dict(sorted(layer_map.items())),
            "skipped": [{**s, "layer": name_of.get(s["layer"], s["layer"])} for s in doc.get("skipped", ())
                        if not dropped(s["path"][1:])],
            "derived_from": base.manifest_digest,
        }
        (tmp / "layers.json").write_text(json.dumps(doc, separators=(",", ":")))
        try:
            commit_dir(tmp, final)
        except OSError:  # another run got there first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        log.info("deriving the rootfs of %s from %s failed (%s); it will be extracted", image.ref, base.ref, e)
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DirRootFS(final / "root", doc["layers"])


def image_cache_dir(image: Image) -> Path:
    """Where `image`'s extracted rootfs lives in the cache (`root/` and `layers.json`)."""
    return image.cache_dir / "rootfs" / image.manifest_digest.split(":", 1)[1]


STALE_SECONDS = 6 * 3600


def sweep_stale(parent: Path, max_age: float = STALE_SECONDS) -> None:
    """Remove temp dirs a killed run left in a cache dir (they never got renamed into place)."""
    import time

    if not parent.is_dir():
        return
    now = time.time()
    for p in parent.glob(".*.tmp"):
        try:
            if now - p.lstat().st_mtime > max_age:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _load_map(path: Path) -> dict[str, str]:
    doc = json.loads(path.read_text())
    return dict(doc["layers"])


# ------------------------------------------------------------------------------- reading without extraction


def read_files(
    image: Image, paths: tuple[str, ...], *, max_size: int = 1 << 20, sizes: dict[str, int] | None = None
) -> dict[str, bytes]:
    """Small files of the final filesystem read straight from the layers, no extraction.

    Tracks only the wanted paths: whiteouts of the path or a parent, and opaque parents, hide lower copies.
    A wanted path that is a symlink is followed (inside the image); its target costs one more pass.
    `sizes`, when given, receives each layer's uncompressed size (diff_id -> bytes).
    """
    want = {p.strip("/") for p in paths}
    out: dict[str, bytes] = {}
    pending = {p: p for p in want}  # wanted path -> path to look at now
    for _pass in range(4):
        state = _scan_paths(image, set(pending.values()), max_size, sizes)
        nxt: dict[str, str] = {}
        for orig, cur in pending.items():
            hops = 0
            while cur in state and state[cur][0] == "link" and hops < 8:
                target = state[cur][1].decode("utf-8", "surrogateescape")
                base = "" if target.startswith("/") else posixpath.dirname(cur)
                cur = posixpath.normpath(posixpath.join("/" + base, target)).lstrip("/")
                hops += 1
            if cur in state and state[cur][0] == "file":
                out["/" + orig] = state[cur][1]
            elif cur not in state and cur != pending[orig]:
                nxt[orig] = cur  # a link into a path not read yet
        if not nxt:
            break
        pending = nxt
    return out


def _scan_paths(
    image: Image, want: set[str], max_size: int, sizes: dict[str, int] | None
) -> dict[str, tuple[str, bytes]]:
    state: dict[str, tuple[str, bytes]] = {}  # rel -> ("file", data) | ("link", target)
    for layer in image.layers:
        with image.layer_tar(layer) as (stream, hasher):
            try:
                tf = _open_tar(stream)
                seen: set[str] = set()
                for m in _members(tf):
                    rel = clean_name(m.name, layer.digest)
                    parent, _, base = rel.rpartition("/")
                    if base == OPAQUE:
                        for w in list(state):
                            if (not parent or w.startswith(parent + "/")) and w not in seen:
                                del state[w]
                    elif base.startswith(WH):
                        gone = f"{parent}/{base[len(WH):]}" if parent else base[len(WH):]
                        for w in list(state):
                            if (w == gone or w.startswith(gone + "/")) and w not in seen:
                                del state[w]
                    elif rel in want:
                        seen.add(rel)
                        if m.isreg() and m.size <= max_size:
                            f = tf.extractfile(m)
                            state[rel] = ("file", f.read() if f else b"")
                        elif m.issym():
                            state[rel] = ("link", m.linkname.encode("utf-8", "surrogateescape"))
                        else:
                            state.pop(rel, None)
                hasher.drain_and_check()
                if sizes is not None:
                    sizes[layer.diff_id] = hasher.count
            except (tarfile.TarError, EOFError, zlib.error, UnicodeError) as e:
                raise _layer_errors(layer, None, e) from None
    return state
