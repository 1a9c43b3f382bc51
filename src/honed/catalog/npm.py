"""npm: every package.json that names a package (has a string name and version) is one, wherever it is —
node_modules/**, the app's own root, Debian's /usr/share/nodejs. Nested copies are separate packages.

A package.json without name/version (e.g. `{"type": "module"}` in a package's subdirectory) is not a
package root and is skipped. A broken package.json at a package-root position (directly in node_modules/
or node_modules/@scope/) is a problem; elsewhere (test fixtures inside packages) it is only logged.

A package owns every file below its directory except those of nested packages (their own node_modules or
nested package roots).
"""

from __future__ import annotations

import json
import logging
import posixpath

from packageurl import PackageURL

from honed.catalog import licenses
from honed.catalog.context import Context
from honed.model import Ecosystem, NpmMeta, Package

log = logging.getLogger(__name__)

MAX_PACKAGE_JSON = 8 << 20


def is_root_position(path: str) -> bool:
    d = posixpath.dirname(path)
    parent = posixpath.dirname(d)
    if posixpath.basename(parent) == "node_modules":
        return True
    return posixpath.basename(parent).startswith("@") and posixpath.basename(posixpath.dirname(parent)) == "node_modules"


def license_of(doc: dict) -> tuple[str, ...]:  # type: ignore[type-arg]
    raw: list[str] = []
    lic = doc.get("license")
    if isinstance(lic, str):
        raw.append(lic)
    elif isinstance(lic, dict) and isinstance(lic.get("type"), str):
        raw.append(lic["type"])
    lics = doc.get("licenses")
    if isinstance(lics, list):
        for item in lics:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                raw.append(item["type"])
            elif isinstance(item, str):
                raw.append(item)
    out = []
    for r in raw:
        if r.upper().startswith("SEE LICENSE IN"):
            out.append(licenses.license_ref("see-license-file"))
            continue
        n = licenses.normalize(r)
        if n:
            out.append(n)
    return tuple(sorted(set(out)))


def parse_package_json(data: bytes) -> dict:  # type: ignore[type-arg]
    """The document, or ValueError if it is not a JSON object."""
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def purl(name: str, version: str) -> str:
    if name.startswith("@") and "/" in name:
        ns, n = name.split("/", 1)
        return PackageURL(type="npm", namespace=ns, name=n, version=version).to_string()
    return PackageURL(type="npm", name=name, version=version).to_string()


def run(ctx: Context, paths: list[str]) -> None:
    found: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = []
    for path in sorted(paths):
        root_pos = is_root_position(path)
        data = ctx.read(path, MAX_PACKAGE_JSON)
        if data is None:
            continue
        try:
            if len(data) > MAX_PACKAGE_JSON:
                raise ValueError(f"larger than {MAX_PACKAGE_JSON} bytes")
            doc = parse_package_json(data)
        except (ValueError, RecursionError) as e:
            if root_pos:
                ctx.problem(path, f"invalid package.json: {str(e)[:120]}")
            else:
                log.debug("%s: invalid package.json ignored: %s", path, e)
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            if root_pos and not doc.get("private"):
                log.debug("%s: package.json without name/version", path)
            continue
        deps = doc.get("dependencies")
        dep_names = tuple(sorted(deps)) if isinstance(deps, dict) else ()
        found.append((path, name.strip(), version.strip(), license_of(doc), dep_names))
    if not found:
        return
    # Files: each file belongs to the deepest package directory above it.
    pkg_dirs = {posixpath.dirname(p) for p, *_ in found}
    files_by_dir: dict[str, list[str]] = {d: [] for d in pkg_dirs}
    idx = ctx.index
    for d in pkg_dirs:
        if d == "/":  # a package.json at the root names no package directory worth claiming
            files_by_dir[d] = ["/package.json"]
            continue
        stack = [d]
        out = files_by_dir[d]
        while stack:
            for p in idx.children.get(stack.pop(), ()):
                if p in pkg_dirs:
                    continue  # a nested package: its own files
                if p in idx.children:
                    stack.append(p)
                else:
                    out.append(p)
    for path, name, version, lic, deps in found:
        d = posixpath.dirname(path)
        ctx.packages.append(
            Package(
                name=name,
                version=version,
                ecosystem=Ecosystem.NPM,
                purl=purl(name, version),
                locations=(ctx.location(path),),
                licenses=lic,
                found_by="npm-package",
                meta=NpmMeta(package_dir=d, files=tuple(sorted(files_by_dir[d])), dependencies=deps),
            )
        )


def select(path: str, base: str, kind: str) -> bool:
    return kind == "f" and base == "package.json"
