"""dpkg: /var/lib/dpkg/status (and distroless status.d/), with each package's .list/.md5sums, conffiles,
copyright licences, and /var/lib/dpkg/diversions.

Raw → validated: `parse_status` splits stanzas leniently into field dicts and reports what it could not
read; `to_package` validates one stanza. Only packages whose Status is "install ok installed" (or that have
no Status, as distroless status.d files sometimes do) are inventoried.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from packageurl import PackageURL

from honed.catalog import licenses
from honed.catalog.context import Context, Distro
from honed.catalog.fsindex import DIR
from honed.model import DpkgMeta, Ecosystem, Package

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
INFO = "/var/lib/dpkg/info/"
DIVERSIONS = "/var/lib/dpkg/diversions"
# Top-level directories that merged /usr turns into symlinks: a package list naming one means the directory
# (even as a leaf, as base-files lists /sbin), never the symlink.
MERGED_USR = frozenset({"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/libo32"})

_FIELD = re.compile(r"^([!-9;-~][!-9;-~]*):(.*)$")  # deb822 field name: printable, no colon, no space
_SOURCE = re.compile(r"^\s*(\S+)(?:\s+\((.+)\))?\s*$")


@dataclass(frozen=True, slots=True)
class Stanza:
    fields: dict[str, str]
    line: int  # 1-based line where it starts


def parse_status(data: bytes) -> tuple[list[Stanza], list[tuple[int, str]]]:
    """Lenient deb822 split: (stanzas, [(line, problem)]). Continuation lines keep their newlines."""
    text = data.decode("utf-8", "replace")
    stanzas: list[Stanza] = []
    problems: list[tuple[int, str]] = []
    cur: dict[str, str] = {}
    start = 0
    key: str | None = None
    broken = False
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if cur:
                stanzas.append(Stanza(cur, start))
            cur, key, broken = {}, None, False
            continue
        if line[0] in " \t":
            if key is None:
                if not broken:
                    problems.append((n, "continuation line outside a field"))
                    broken = True
                continue
            cur[key] += "\n" + line[1:]
            continue
        m = _FIELD.match(line)
        if not m:
            problems.append((n, f"not a field: {line[:60]!r}"))
            key = None
            broken = True
            continue
        if not cur:
            start = n
        key = m.group(1)
        cur[key] = m.group(2).strip()
    if cur:
        stanzas.append(Stanza(cur, start))
    return stanzas, problems


def is_installed(fields: dict[str, str]) -> bool:
    status = fields.get("Status")
    if status is None:
        return True
    words = status.split()
    # files are on disk in these states; not-installed/config-files/half-installed leave no (complete) package
    return len(words) == 3 and words[2] in (
        "installed",
        "unpacked",
        "half-configured",
        "triggers-awaited",
        "triggers-pending",
    )


def parse_source(fields: dict[str, str]) -> tuple[str, str]:
    """`Source: name (version)` → (name, version); defaults to the binary package's own."""
    name, version = fields.get("Package", ""), fields.get("Version", "")
    src = fields.get("Source")
    if src:
        m = _SOURCE.match(src)
        if m:
            return m.group(1), (m.group(2) or version).strip()
    return name, version


def parse_conffiles(value: str) -> tuple[str, ...]:
    out = []
    for line in value.split("\n"):
        parts = line.split()
        if parts and parts[0].startswith("/"):
            out.append(parts[0])
    return tuple(out)


def parse_depends(fields: dict[str, str]) -> tuple[str, ...]:
    deps: list[str] = []
    for key in ("Pre-Depends", "Depends"):
        for alt in fields.get(key, "").replace("\n", " ").split(","):
            alt = alt.strip()
            if alt:
                deps.append(alt)
    return tuple(deps)


def parse_list(data: bytes) -> list[str]:
    """A .list file: one absolute path a line ("/." is the root)."""
    out = []
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        line = line.rstrip("\r")
        if line and line != "/.":
            out.append(posixpath.normpath(line) if "//" in line or "/./" in line else line)
    return out


def parse_md5sums(data: bytes) -> list[str]:
    """A .md5sums file: "<md5>  <relative path>" — files only, relative to /."""
    out = []
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        parts = line.split(None, 1)
        if len(parts) == 2:
            out.append("/" + parts[1].strip().lstrip("/"))
    return out


def parse_diversions(data: bytes) -> list[tuple[str, str, str]]:
    """/var/lib/dpkg/diversions: triples of lines (from, to, diverting package; ":" = local)."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    out = []
    for i in range(0, len(lines) - 2, 3):
        f, t, by = lines[i].strip(), lines[i + 1].strip(), lines[i + 2].strip()
        if f.startswith("/") and t.startswith("/"):
            out.append((f, t, by))
    return out


def split_dirs(entries: list[str], is_dir: Callable[[str], bool]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(files, dirs) of a package list. `is_dir` says whether an entry is a directory: one other entries
    live under, or a leaf the image has as a real directory (an empty directory the package ships)."""
    files, dirs = [], []
    for e in entries:
        if is_dir(e):
            dirs.append(e)
        else:
            files.append(e)
    return tuple(files), tuple(dirs)


def purl(name: str, version: str, arch: str, distro: Distro | None, source: str, source_version: str) -> str:
    quals = {}
    if arch:
        quals["arch"] = arch
    if distro and distro.id:
        quals["distro"] = distro.purl_distro
    if source and source != name:
        quals["upstream"] = source if source_version == version else f"{source}@{source_version}"
    ns = distro.id if distro and distro.id else "debian"
    return PackageURL(type="deb", namespace=ns, name=name, version=version, qualifiers=quals).to_string()


def run(ctx: Context, paths: list[str]) -> None:
    status_files = [p for p in paths if p == STATUS or (p.startswith(STATUS_D) and not p.endswith(".md5sums"))]
    if not status_files:
        return
    idx = ctx.index
    seen: set[tuple[str, str, str]] = set()
    raw: list[tuple[str, dict[str, str], list[str], list]] = []  # type: ignore[type-arg]
    for spath in sorted(status_files):
        data = ctx.read(spath)
        if data is None:
            continue
        stanzas, problems = parse_status(data)
        for line, msg in problems:
            ctx.problem(spath, f"line {line}: {msg}")
        for stz in stanzas:
            f = stz.fields
            name, version = f.get("Package", "").strip(), f.get("Version", "").strip()
            if not name or not version:
                what = "Package" if not name else "Version"
                ctx.problem(spath, f"line {stz.line}: stanza {name or '?'} has no {what} field (half-written?)")
                continue
            if not is_installed(f):
                continue
            arch = f.get("Architecture", "").strip()
            if (name, version, arch) in seen:
                continue
            seen.add((name, version, arch))
            entries, locations = _entries(ctx, spath, f, name, arch)
            raw.append((spath, f, entries, locations))
    # An entry any package lists something under is a directory for every package (base-files lists
    # /bin as a leaf; bash lists /bin/bash) — so a merged-/usr symlink is never credited as a file.
    parents: set[str] = set()
    for _, _, entries, _ in raw:
        for e in entries:
            p = e[: e.rfind("/")]
            while p and p not in parents:
                parents.add(p)
                p = p[: p.rfind("/")]

    def is_dir(p: str) -> bool:  # the leaf as the image has it (parent resolved, the leaf itself not)
        if p in parents or p in MERGED_USR:
            return True
        e = idx.entries.get(p)
        if e is None:
            head, tail = p.rsplit("/", 1)
            e = idx.entries.get(idx.resolve(head).rstrip("/") + "/" + tail)
        return e is not None and e[0] == DIR

    for spath, f, entries, locations in raw:
        ctx.packages.append(_package(ctx, spath, f, entries, locations, is_dir))


def _entries(ctx: Context, spath: str, f: dict[str, str], name: str, arch: str) -> tuple[list[str], list]:  # type: ignore[type-arg]
    idx = ctx.index
    locations = [ctx.location(spath)]
    entries: list[str] | None = None
    for cand in (f"{INFO}{name}:{arch}.list", f"{INFO}{name}.list"):
        if cand in idx.entries:
            data = ctx.read(cand)
            if data is not None:
                entries = parse_list(data)
                locations.append(ctx.location(cand))
            break
    if entries is None:  # distroless: no .list, only md5sums (which name files, never directories)
        for cand in (
            f"{spath}.md5sums",  # distroless: status.d/<file> beside status.d/<file>.md5sums
            f"{STATUS_D}{name}.md5sums",
            f"{INFO}{name}:{arch}.md5sums",
            f"{INFO}{name}.md5sums",
        ):
            if cand in idx.entries:
                data = ctx.read(cand)
                if data is not None:
                    entries = parse_md5sums(data)
                    locations.append(ctx.location(cand))
                break
    if entries is None:
        # the package's files are unknown: its ownership (and any removal of it) would be incomplete
        ctx.problem(spath, f"package {name}: no file list ({INFO}{name}.list) — its files are not known")
        entries = []
    seen_e = set(entries)
    entries.extend(c for c in parse_conffiles(f.get("Conffiles", "")) if c not in seen_e)
    return entries, locations


def _package(ctx: Context, spath: str, f: dict[str, str], entries: list[str], locations: list, is_dir) -> Package:  # type: ignore[no-untyped-def,type-arg]
    idx = ctx.index
    name, version = f["Package"].strip(), f["Version"].strip()
    arch = f.get("Architecture", "").strip()
    source, source_version = parse_source(f)
    conffiles = parse_conffiles(f.get("Conffiles", ""))
    files, dirs = split_dirs(entries, is_dir)
    lic: tuple[str, ...] = ()
    cpath = f"/usr/share/doc/{name}/copyright"
    real = idx.resolve(cpath)
    if real in idx.entries:
        data = ctx.read_quiet(real, 4 << 20)
        if data is not None:
            lic = licenses.from_debian_copyright(data)
            locations.append(ctx.location(cpath))
    try:
        isize = int(f.get("Installed-Size", "0").split()[0]) * 1024
    except (ValueError, IndexError):
        isize = 0
    meta = DpkgMeta(
        source=source,
        source_version=source_version,
        arch=arch,
        depends=parse_depends(f),
        files=files,
        conffiles=conffiles,
        installed_size=isize,
        status_path=spath,
        dirs=dirs,
    )
    return Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.DEBIAN,
        purl=purl(name, version, arch, ctx.distro, source, source_version),
        locations=tuple(locations),
        licenses=lic,
        found_by="dpkg-db",
        meta=meta,
    )


def diversions(ctx: Context) -> tuple[tuple[str, str, str], ...]:
    if DIVERSIONS not in ctx.index.entries:
        return ()
    data = ctx.read_quiet(DIVERSIONS)
    return tuple(parse_diversions(data)) if data else ()


def select(path: str, base: str, kind: str) -> bool:
    return kind == "f" and (path == STATUS or path.startswith(STATUS_D))
