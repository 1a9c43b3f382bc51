"""Python distributions: `*.dist-info/METADATA` and `*.egg-info` (directory with PKG-INFO, or a file),
anywhere in the image (system site-/dist-packages, venvs, app directories).

Files come from RECORD (dist-info) or installed-files.txt (egg-info); paths are relative to the directory
that holds the metadata directory. The metadata header is parsed by hand: the email module is slow, and a
10 MB header line must become a problem rather than a stall.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re

from packageurl import PackageURL

from honed.catalog import licenses
from honed.catalog.context import MAX_META_BYTES, Context
from honed.model import Ecosystem, Package, PythonMeta

MAX_HEADER_LINE = 64 << 10  # a header line longer than this is corrupt (names, versions, classifiers are short)
_NORM = re.compile(r"[-_.]+")


def parse_metadata(data: bytes) -> tuple[dict[str, list[str]], list[str]]:
    """Core-metadata header fields (multi-valued) and problems. The body (description) is skipped."""
    text = data.decode("utf-8", "replace")
    fields: dict[str, list[str]] = {}
    problems: list[str] = []
    key: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line:
            break  # end of the header
        if len(line) > MAX_HEADER_LINE:
            problems.append(f"line {n}: header line of {len(line)} bytes (limit {MAX_HEADER_LINE})")
            key = None
            continue
        if line[0] in " \t":
            if key is not None and fields.get(key):
                fields[key][-1] += "\n" + line.strip()
            continue
        if ":" not in line:
            problems.append(f"line {n}: not a header field: {line[:60]!r}")
            key = None
            continue
        k, v = line.split(":", 1)
        key = k.strip().lower()
        fields.setdefault(key, []).append(v.strip())
    return fields, problems


def parse_record(data: bytes) -> list[str]:
    """RECORD: CSV rows "path,hash,size" → the paths as written (relative or absolute)."""
    out = []
    for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
        if row and row[0]:
            out.append(row[0])
    return out


def license_of(fields: dict[str, list[str]]) -> tuple[str, ...]:
    expr = (fields.get("license-expression") or [""])[0].strip()
    if expr:
        n = licenses.normalize(expr)
        return (n,) if n else ()
    lic = (fields.get("license") or [""])[0].strip()
    if lic and "\n" not in lic and lic.upper() not in ("UNKNOWN", "NONE"):
        n = licenses.normalize(lic)
        if n:
            return (n,)
    found = []
    for c in fields.get("classifier", []):
        n = licenses.from_classifier(c)
        if n:
            found.append(n)
    return tuple(sorted(set(found)))


def normalize_name(name: str) -> str:
    return _NORM.sub("-", name).lower()


def purl(name: str, version: str) -> str:
    return PackageURL(type="pypi", name=normalize_name(name), version=version).to_string()


def _abs(base: str, rel: str) -> str:
    return posixpath.normpath(rel if rel.startswith("/") else posixpath.join(base, rel))


def run(ctx: Context, paths: list[str]) -> None:
    for path in sorted(paths):
        base = posixpath.basename(path)
        if base in ("METADATA", "PKG-INFO"):
            dist_dir = posixpath.dirname(path)
        else:  # a distutils .egg-info *file* is itself the PKG-INFO
            dist_dir = path
        data = ctx.read(path)
        if data is None:
            continue
        if len(data) > MAX_META_BYTES:
            ctx.problem(path, f"metadata larger than {MAX_META_BYTES} bytes; only its start was read")
        fields, problems = parse_metadata(data)
        for msg in problems:
            ctx.problem(path, msg)
        name = (fields.get("name") or [""])[0].strip()
        version = (fields.get("version") or [""])[0].strip()
        if not name or not version:
            ctx.problem(path, "no Name or Version in the metadata header")
            continue
        site = posixpath.dirname(dist_dir)
        files: list[str] = []
        installer = ""
        if dist_dir.endswith(".dist-info"):
            rec = ctx.read_quiet(dist_dir + "/RECORD")
            if rec is not None:
                files = [_abs(site, p) for p in parse_record(rec)]
            inst = ctx.read_quiet(dist_dir + "/INSTALLER", 256)
            installer = inst.decode("utf-8", "replace").strip() if inst else ""
        elif dist_dir != path:  # .egg-info directory
            inst_files = ctx.read_quiet(dist_dir + "/installed-files.txt")
            if inst_files is not None:
                files = [
                    _abs(dist_dir, ln.strip())
                    for ln in inst_files.decode("utf-8", "replace").splitlines()
                    if ln.strip()
                ]
        # The metadata directory itself always belongs to the distribution.
        own = sorted(p for p in ctx.index.under(dist_dir) if ctx.index.kind(p) != "d") if dist_dir != path else [path]
        seen = set(files)
        files.extend(p for p in own if p not in seen)
        ctx.packages.append(
            Package(
                name=name,
                version=version,
                ecosystem=Ecosystem.PYPI,
                purl=purl(name, version),
                locations=(ctx.location(path),),
                licenses=license_of(fields),
                found_by="python-installed",
                meta=PythonMeta(
                    dist_dir=dist_dir,
                    files=tuple(files),
                    requires=tuple(fields.get("requires-dist", [])),
                    installer=installer,
                ),
            )
        )


def select(path: str, base: str, kind: str) -> bool:
    if kind != "f":
        return False
    if base == "METADATA":
        return path[: -len("/METADATA")].endswith(".dist-info")
    if base == "PKG-INFO":
        return path[: -len("/PKG-INFO")].endswith(".egg-info")
    return base.endswith(".egg-info")
