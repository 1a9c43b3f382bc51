"""rpm: the SQLite rpmdb of current RPM distros (/var/lib/rpm/rpmdb.sqlite, /usr/lib/sysimage/rpm/…).

Each row of the `Packages` table is an rpm header blob, parsed here from its documented layout: two
big-endian u32 (index count, data length), index entries of four u32 (tag, type, offset, count), then the
data store. The older BerkeleyDB / NDB formats are not read (reported as a problem).
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tempfile
from pathlib import Path

from packageurl import PackageURL

from honed.catalog import licenses
from honed.catalog.context import Context, Distro
from honed.model import Ecosystem, Package, RpmMeta

DB_PATHS = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
LEGACY = ("/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages.db")

NAME, VERSION, RELEASE, EPOCH, SIZE, LICENSE, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1009, 1014, 1022, 1044
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
_INT = {2: ("b", 1), 3: (">h", 2), 4: (">i", 4), 5: (">q", 8)}


def parse_header(blob: bytes) -> dict[int, object]:
    """Tag → value (str, list[str], list[int], bytes) for one header blob. Raises ValueError if corrupt."""
    if len(blob) < 8:
        raise ValueError("header shorter than 8 bytes")
    il, dl = struct.unpack(">II", blob[:8])
    base = 8 + 16 * il
    if il > 100_000 or base + dl > len(blob):
        raise ValueError("header index/data lengths exceed the blob")
    store = blob[base : base + dl]
    out: dict[int, object] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">IIII", blob[8 + 16 * i : 24 + 16 * i])
        if off > dl:
            raise ValueError(f"tag {tag}: offset beyond the data store")
        if typ in (6, 9):  # STRING, I18NSTRING: NUL-terminated (the first string for I18N)
            end = store.find(b"\0", off)
            out[tag] = store[off : end if end >= 0 else len(store)].decode("utf-8", "replace")
        elif typ == 8:  # STRING_ARRAY
            vals, pos = [], off
            for _ in range(count):
                end = store.find(b"\0", pos)
                if end < 0:
                    raise ValueError(f"tag {tag}: unterminated string array")
                vals.append(store[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            out[tag] = vals
        elif typ in _INT:
            fmt, size = _INT[typ]
            if off + size * count > dl:
                raise ValueError(f"tag {tag}: integers beyond the data store")
            out[tag] = [struct.unpack_from(fmt, store, off + size * k)[0] for k in range(count)]
        elif typ == 7:
            out[tag] = store[off : off + count]
    return out


def files_of(h: dict[int, object]) -> tuple[str, ...]:
    base = h.get(BASENAMES) or []
    dirs = h.get(DIRNAMES) or []
    idx = h.get(DIRINDEXES) or []
    out = []
    for b, i in zip(base, idx, strict=False):  # type: ignore[call-overload]
        if 0 <= i < len(dirs):  # type: ignore[arg-type]
            out.append(dirs[i] + b)  # type: ignore[index]
    return tuple(out)


def purl(name: str, version: str, release: str, epoch: int | None, arch: str, distro: Distro | None) -> str:
    quals: dict[str, str] = {}
    if arch:
        quals["arch"] = arch
    if epoch:
        quals["epoch"] = str(epoch)
    if distro and distro.id:
        quals["distro"] = distro.purl_distro
    ns = distro.id if distro and distro.id else None
    v = f"{version}-{release}" if release else version
    return PackageURL(type="rpm", namespace=ns, name=name, version=v, qualifiers=quals).to_string()


def _rows(ctx: Context, path: str) -> list[tuple[int, bytes]]:
    """The Packages rows. The image is read-only, so a database with a write-ahead log beside it is copied
    (with the log) to a temporary directory first; otherwise it is opened in place as immutable."""
    host = ctx.rootfs.host_path(path)
    query = "SELECT hnum, blob FROM Packages ORDER BY hnum"
    if path + "-wal" not in ctx.index.entries:
        con = sqlite3.connect(f"file:{host}?mode=ro&immutable=1", uri=True)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()
    with tempfile.TemporaryDirectory(prefix="honed-rpmdb-") as tmp:
        db = Path(tmp) / "rpmdb.sqlite"
        shutil.copyfile(host, db)
        shutil.copyfile(ctx.rootfs.host_path(path + "-wal"), str(db) + "-wal")
        con = sqlite3.connect(str(db))
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()


def run(ctx: Context, paths: list[str]) -> None:
    for path in paths:
        if path in LEGACY:
            if not any(p in ctx.index.entries for p in DB_PATHS):
                ctx.problem(path, "BerkeleyDB/NDB rpm databases are not supported (only rpmdb.sqlite)")
            continue
        try:
            rows = _rows(ctx, path)
        except (sqlite3.Error, OSError) as e:
            ctx.problem(path, f"unreadable rpm database: {e}")
            continue
        for hnum, blob in rows:
            try:
                h = parse_header(bytes(blob))
            except (ValueError, struct.error) as e:
                ctx.problem(path, f"package header {hnum}: {e}")
                continue
            name, version = h.get(NAME), h.get(VERSION)
            if not isinstance(name, str) or not isinstance(version, str) or name == "gpg-pubkey":
                continue
            release = h.get(RELEASE) if isinstance(h.get(RELEASE), str) else ""
            ep = h.get(EPOCH)
            epoch = ep[0] if isinstance(ep, list) and ep else None
            arch = h.get(ARCH) if isinstance(h.get(ARCH), str) else ""
            lic_raw = h.get(LICENSE)
            lic = licenses.normalize(lic_raw) if isinstance(lic_raw, str) else None
            srpm = h.get(SOURCERPM)
            full = f"{version}-{release}" if release else version
            if epoch:
                full = f"{epoch}:{full}"
            ctx.packages.append(
                Package(
                    name=name,
                    version=full,
                    ecosystem=Ecosystem.RPM,
                    purl=purl(name, version, str(release), epoch, str(arch), ctx.distro),
                    locations=(ctx.location(path),),
                    licenses=(lic,) if lic else (),
                    found_by="rpm-db",
                    meta=RpmMeta(
                        source_rpm=srpm if isinstance(srpm, str) else "",
                        epoch=epoch,
                        release=str(release),
                        arch=str(arch),
                        files=files_of(h),
                    ),
                )
            )


def select(path: str, base: str, kind: str) -> bool:
    return kind == "f" and (path in DB_PATHS or path in LEGACY)
