"""The removal executor: an analysis → the exact paths to drop and the package-database files to rewrite.

Pure over the read-only RootFS. Rules (each one a trap from DESIGN §5b):
- a file goes only when *every* owner goes (files shared through Replaces, or a dist inside a deb);
- directory entries are never dropped for being listed; a real directory goes only when the removal left it
  empty (it had entries before, none after) and no kept package lists it. Directories that were already
  empty in the image stay (`/tmp`, run dirs), and so do merged-/usr symlinks such as `/bin`;
- with a package go its conffiles, its `/var/lib/dpkg/info/NAME[:ARCH].*` files, the bytecode of its Python
  sources, the files its maintainer scripts generate (CA bundle, ld.so.cache…), and unowned symlinks that
  only pointed into it (`/etc/alternatives/*`, CA hash links, npm `.bin` links);
- package databases are rewritten, never deleted: the dpkg status stanza (status, status-old, status.d),
  diversions, the alternatives it alone provided, npm's hidden lockfile entries; a Python dist leaves with
  its whole dist-info/egg-info directory (RECORD, `.pth` hooks and all).
"""

from __future__ import annotations

import heapq
import json
import logging
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from honed.analyze.evidence import GENERATED, METADATA_PREFIXES, pyc_source
from honed.analyze.ownership import Ownership, parse_diversions
from honed.analyze.plan import Analysis
from honed.image.rootfs import FileInfo, RootFS
from honed.model import DpkgMeta, Ecosystem, NpmMeta, PythonMeta

log = logging.getLogger(__name__)

INFO = "/var/lib/dpkg/info"
STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
ALTERNATIVES = "/var/lib/dpkg/alternatives"
INFO_EXTS = frozenset(
    "list md5sums conffiles preinst postinst prerm postrm config templates triggers shlibs symbols "
    "starlibs".split()
)
# status-like files that name installed packages stanza by stanza
STATUS_FILES = (STATUS, "/var/lib/dpkg/status-old", "/var/lib/dpkg/available")


# Files a runtime looks for without opening them (no tracer sees it): kept in files mode.
# Python finds its prefix by the landmark lib/python3.X/os.py, while `os` itself runs frozen.
# And the rarely-used-but-legitimate data of DESIGN §5b, read only on a path a test suite seldom takes (the
# first real HTTPS call, a user's time zone, an exotic charset, an NSS lookup): a used package keeps it.
FILES_MODE_KEEP = re.compile(
    r".*/lib/python3\.\d+/os\.py"
    r"|.*\.(?:pem|crt)"  # CA bundles: certifi's cacert.pem and the copies vendored by pip, botocore…
    r"|.*/zoneinfo/.*"  # time-zone data: tzdata, pytz, the tzdata dist
    r"|.*/gconv/.*|.*/libnss_[^/]*|/usr/lib/locale/.*"  # iconv modules, NSS modules, locale data
)


@dataclass(frozen=True, slots=True)
class PackageFiles:
    files: tuple[str, ...]  # every dropped path credited to this package (files, links, dirs)
    bytes: int  # regular-file bytes among them


@dataclass(frozen=True, slots=True)
class RemovalPlan:
    drop: tuple[str, ...]  # sorted image paths to drop (files, symlinks, directories)
    replace: Mapping[str, bytes]  # rewritten package-database files
    removed: Mapping[str, PackageFiles]  # removed package id → its files
    trimmed: Mapping[str, PackageFiles] = field(default_factory=dict)  # --mode files: kept id → dropped files
    dropped_bytes: int = 0


def _info_index(info_names: Iterable[str]) -> dict[str, list[str]]:
    """`NAME[:ARCH]` → its info files, by the known extensions (so python3.11.list is not python3's)."""
    out: dict[str, list[str]] = {}
    for fn in info_names:
        stem, dot, ext = fn.rpartition(".")
        if dot and ext in INFO_EXTS:
            out.setdefault(stem, []).append(f"{INFO}/{fn}")
    return out


def _info_files(index: Mapping[str, list[str]], name: str, arch: str) -> list[str]:
    return [*index.get(f"{name}:{arch}", ()), *index.get(name, ())] if arch else list(index.get(name, ()))


def filter_stanzas(data: bytes, drop: set[tuple[str, str]]) -> tuple[bytes, int]:
    """Remove the stanzas of (package, arch) from a deb822 status file; other bytes stay exactly as they were.
    Returns (new bytes, stanzas removed). An arch of "*" matches any."""
    text = data.decode("utf-8", "surrogateescape")
    blocks = re.split(r"(\n\n+)", text)  # keep the separators so untouched stanzas stay byte-identical
    out: list[str] = []
    removed = 0
    i = 0
    while i < len(blocks):
        block = blocks[i]
        sep = blocks[i + 1] if i + 1 < len(blocks) else ""
        m = re.search(r"^Package:\s*(\S+)", block, re.M)
        a = re.search(r"^Architecture:\s*(\S+)", block, re.M)
        key = (m.group(1), a.group(1) if a else "") if m else None
        if key and (key in drop or (key[0], "*") in drop):
            removed += 1
        else:
            out.append(block + sep)
        i += 2
    new = "".join(out)
    if removed:  # the file keeps its own ending whichever stanza was last
        new = new.rstrip("\n") + text[len(text.rstrip("\n")):] if new.strip() else ""
    return new.encode("utf-8", "surrogateescape"), removed


def compute_removal(fs: RootFS, analysis: Analysis, *, mode: str | None = None) -> RemovalPlan:
    own = analysis.ownership
    pkgs = [d.package for d in analysis.decisions]
    if own is None:
        own = Ownership(pkgs, fs)
    canon = own.canon
    removed_ids = {d.id for d in analysis.removed}
    kept_ids = {d.id for d in analysis.kept}
    mode = mode or analysis.policy.mode

    # One walk of the image: symlinks (for dangling links) and directory listings (for emptiness).
    entries: Mapping[str, FileInfo] = own.entries
    children: dict[str, list[str]] = {}
    for path in entries:
        children.setdefault(posixpath.dirname(path), []).append(path)

    drop: dict[str, str] = {}  # path → package id it is credited to

    def take(path: str, pid: str) -> None:
        if path in entries and path not in drop and path != "/":
            drop[path] = pid

    def all_owners_go(c: str, going: set[str]) -> bool:
        owners = own.owners(c, canonical=True)
        return not owners or all(o in going for o in owners)

    # 1. the packages' own files (conffiles included), where no kept package shares them
    for pid in sorted(removed_ids):
        for c in own.package_files(pid):
            if c in own.dirs:
                continue
            if all_owners_go(c, removed_ids):
                take(c, pid)

    # 2. files-mode: never-touched files of used packages (not metadata, not shared with other kept owners)
    trimmed_ids: set[str] = set()
    if mode == "files":
        trimmable = {d.id for d in analysis.kept
                     if {r.kind for r in d.reasons} <= {"used", "needed-by", "contains", "contained-in", "depends"}
                     and any(r.kind == "used" for r in d.reasons)}
        going = removed_ids | trimmable
        meta_dirs = {canon(p.meta.dist_dir) for p in pkgs if isinstance(p.meta, PythonMeta)}
        for pid in sorted(trimmable):
            for c in own.package_files(pid):
                if c in own.dirs or c in analysis.touched or c.startswith(METADATA_PREFIXES) \
                        or FILES_MODE_KEEP.fullmatch(c):
                    continue
                if posixpath.dirname(c) in meta_dirs or c.endswith("/package.json"):
                    continue
                ent = entries.get(c)
                if ent is None or ent.kind == "dir":
                    continue
                if ent.kind == "symlink" and _chain_touched(canon, c, analysis.touched):
                    continue
                if all_owners_go(c, going):
                    take(c, pid)
                    trimmed_ids.add(pid)

    # 3. what goes with a removed package although its list does not say so
    info_index = _info_index(posixpath.basename(p) for p in children.get(INFO, ()))
    by_id = {p.id: p for p in pkgs}
    for pid in sorted(removed_ids):
        p = by_id[pid]
        m = p.meta
        if isinstance(m, DpkgMeta):
            for f in _info_files(info_index, p.name, m.arch):
                take(f, pid)
            if m.status_path.startswith(STATUS_D + "/"):
                take(m.status_path + ".md5sums", pid)
        for rx, base, names in _GEN:
            if p.name not in names:
                continue
            for q in entries:
                if q.startswith(base + "/") and rx.fullmatch(q) and entries[q].kind == "file" \
                        and not own.owners(q, canonical=True):
                    take(q, pid)
    # bytecode of dropped sources
    for path, credit in list(drop.items()):
        if path.endswith(".py"):
            d, stem = posixpath.split(path[:-3])
            for q in children.get(f"{d}/__pycache__", ()):
                if pyc_source(q) == path and all_owners_go(q, removed_ids | trimmed_ids):
                    take(q, credit)
            if f"{path}c" in entries and all_owners_go(f"{path}c", removed_ids | trimmed_ids):
                take(f"{path}c", credit)

    # 4. unowned (or removed-owned) symlinks that now point at nothing
    links = [p for p, i in entries.items() if i.kind == "symlink" and p not in drop
             and all_owners_go(p, removed_ids | trimmed_ids) and p not in own.dirs]
    changed = True
    while changed:
        changed = False
        for lp in links:
            if lp in drop:
                continue
            t = _final_target(canon, entries, lp)
            if t is not None and t in drop:
                owners = own.owners(lp, canonical=True)
                take(lp, owners[0] if owners else drop[t])
                changed = True

    # 5. directories the removal left empty (never ones that were empty already, never a kept one)
    going_all = removed_ids | trimmed_ids
    heap = [(-p.count("/"), p) for p in {posixpath.dirname(p) for p in drop}]  # deepest first
    heapq.heapify(heap)
    seen: set[str] = set()
    while heap:
        d = heapq.heappop(heap)[1]
        if d in seen or d == "/" or d not in entries or entries[d].kind != "dir":
            continue
        seen.add(d)
        kids = children.get(d, [])
        if not kids or any(k not in drop for k in kids) or d in analysis.touched:
            continue  # already empty, still holding something, or a directory the app used
        owners = own.owners(d, canonical=True)
        if any(o in kept_ids and o not in going_all for o in owners):
            continue
        credit = next((o for o in owners if o in removed_ids), None) or drop[kids[0]]
        take(d, credit)
        parent = posixpath.dirname(d)
        heapq.heappush(heap, (-parent.count("/"), parent))

    # 6. package databases
    replace: dict[str, bytes] = {}
    dpkg_gone = {(by_id[i].name, m.arch) for i in removed_ids if isinstance(m := by_id[i].meta, DpkgMeta)}
    if dpkg_gone:
        for sp in STATUS_FILES + tuple(sorted(p for p in children.get(STATUS_D, ()) if not p.endswith(".md5sums"))):
            if sp not in entries or entries[sp].kind != "file" or sp in drop:
                continue
            data = fs.read_bytes(sp)
            new, n = filter_stanzas(data, dpkg_gone)
            if n:
                if sp.startswith(STATUS_D + "/") and not new.strip():
                    take(sp, next((i for i in sorted(removed_ids)
                                   if getattr(by_id[i].meta, "status_path", "") == sp), sorted(removed_ids)[0]))
                else:
                    replace[sp] = new
        _rewrite_diversions(fs, entries, {n for n, _ in dpkg_gone}, replace)
        _rewrite_alternatives(fs, entries, children, canon, drop, replace)
    _rewrite_npm_lock(fs, entries, [by_id[i] for i in sorted(removed_ids)], canon, replace)

    # 7. accounting
    removed: dict[str, list[str]] = {}
    trimmed: dict[str, list[str]] = {}
    for path, pid in drop.items():
        (removed if pid in removed_ids else trimmed).setdefault(pid, []).append(path)

    def acc(paths: Iterable[str]) -> PackageFiles:
        ps = sorted(paths)
        return PackageFiles(tuple(ps), sum(entries[p].size for p in ps if entries[p].kind == "file"))

    removed_acc = {pid: acc(removed.get(pid, ())) for pid in sorted(removed_ids)}
    trimmed_acc = {pid: acc(v) for pid, v in sorted(trimmed.items())}
    total = sum(entries[p].size for p in drop if entries[p].kind == "file")
    return RemovalPlan(tuple(sorted(drop)), dict(sorted(replace.items())), removed_acc, trimmed_acc, total)


def _generated_rules() -> tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]:
    """GENERATED with the literal directory each pattern lives under (to scan only there)."""
    out = []
    for rx, names in GENERATED:
        literal = re.split(r"[\\\[(.*+?]", rx.pattern, maxsplit=1)[0]
        out.append((rx, posixpath.dirname(literal) or "/", names))
    return tuple(out)


_GEN = _generated_rules()


def _final_target(canon, entries: Mapping[str, FileInfo], path: str) -> str | None:  # type: ignore[no-untyped-def]
    """The last existing path of a symlink chain (or the first missing one)."""
    cur = path
    for _ in range(40):
        t = canon.link_target(cur)
        if t is None:
            return cur
        if t not in entries:
            return None  # dangling already: not our doing
        cur = t
    return None


def _chain_touched(canon, path: str, touched: frozenset[str]) -> bool:  # type: ignore[no-untyped-def]
    cur: str | None = path
    for _ in range(40):
        if cur is None:
            return False
        if cur in touched:
            return True
        cur = canon.link_target(cur)
    return False


def _rewrite_diversions(fs: RootFS, entries: Mapping[str, FileInfo], gone: set[str],
                        replace: dict[str, bytes]) -> None:
    for path in ("/var/lib/dpkg/diversions", "/var/lib/dpkg/diversions-old"):
        if path not in entries or entries[path].kind != "file":
            continue
        data = fs.read_bytes(path)
        divs = parse_diversions(data)
        keep = [d for d in divs if d.by not in gone]
        if len(keep) != len(divs):
            replace[path] = "".join(f"{d.original}\n{d.diverted_to}\n{d.by}\n" for d in keep).encode()


def _rewrite_alternatives(fs: RootFS, entries: Mapping[str, FileInfo], children: Mapping[str, list[str]],
                          canon, drop: dict[str, str], replace: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    """An alternatives file loses the choices that were removed; with none left it goes."""
    for path in children.get(ALTERNATIVES, ()):
        if entries[path].kind != "file" or path in drop:
            continue
        try:
            lines = fs.read_bytes(path).decode("utf-8", "replace").split("\n")
        except OSError:
            continue
        try:
            end = lines.index("", 2)  # header: mode, link, then (slave name, slave link) pairs until a blank
        except ValueError:
            continue
        nslaves = (end - 2) // 2
        blocks: list[list[str]] = []  # per choice: path, priority, one line per slave (may be empty)
        i = end + 1
        while i < len(lines) and lines[i]:
            blocks.append(lines[i:i + 2 + nslaves])
            i += 2 + nslaves
        gone = [b for b in blocks if canon(b[0]) in drop]
        if not gone:
            continue
        if len(gone) == len(blocks):
            drop[path] = drop[canon(blocks[0][0])]
        else:  # the group stays with its other choices; "auto" lets update-alternatives pick among them
            head = ["auto", *lines[1:end], ""]
            body = [ln for b in blocks if b not in gone for ln in b]
            replace[path] = ("\n".join([*head, *body, "", ""])).encode()


def _rewrite_npm_lock(fs: RootFS, entries: Mapping[str, FileInfo], removed: list, canon,  # type: ignore[type-arg,no-untyped-def]
                      replace: dict[str, bytes]) -> None:
    """Drop removed packages from node_modules/.package-lock.json (npm's record of what is installed)."""
    by_lock: dict[str, list[str]] = {}
    for p in removed:
        if p.ecosystem != Ecosystem.NPM or not isinstance(p.meta, NpmMeta):
            continue
        d = canon(p.meta.package_dir.rstrip("/"))
        i = d.find("/node_modules/")
        if i < 0:
            continue
        root = d[:i]
        lock = f"{root}/node_modules/.package-lock.json"
        if lock in entries:
            by_lock.setdefault(lock, []).append(d[len(root) + 1:])
    for lock, rels in by_lock.items():
        try:
            doc = json.loads(replace.get(lock) or fs.read_bytes(lock))
        except (OSError, ValueError):
            continue
        pk = doc.get("packages")
        if not isinstance(pk, dict):
            continue
        gone = set(rels)
        newpk = {k: v for k, v in pk.items()
                 if not any(k == r or k.startswith(r + "/node_modules/") for r in gone)}
        if len(newpk) != len(pk):
            doc["packages"] = newpk
            replace[lock] = (json.dumps(doc, indent=2) + "\n").encode()
