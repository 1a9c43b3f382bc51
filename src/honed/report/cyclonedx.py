"""CycloneDX 1.6 JSON for a Catalog, built as plain dicts.

Plain dicts rather than cyclonedx-python-lib: the library pulls in a serializer stack (py-serializable,
sortedcontainers, license-expression…) that costs more import time than this whole module, and its model
validation duplicates what the tests already do against the official schema. Output is deterministic:
sorted components, a serial number derived from the content, and a timestamp only from an injected time
(argument, SOURCE_DATE_EPOCH, or the image's own creation time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import uuid
from typing import Any

from honed import __version__
from honed.catalog.core import Catalog
from honed.catalog.licenses import is_simple_id
from honed.model import DpkgMeta, Ecosystem, GoModMeta, JarMeta, Package, PythonMeta

_NS = uuid.UUID("5b0f9f1e-7c47-4f0e-9a52-6f6e65640001")  # honed's namespace for content-derived UUIDs


def sbom_time(cat: Catalog, created: str | None = None) -> str | None:
    """The document time: explicit > SOURCE_DATE_EPOCH > the image's creation time > none."""
    if created:
        return created
    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde.isdigit():
        return _dt.datetime.fromtimestamp(int(sde), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if cat.image and cat.image.created:
        return _normalise_time(cat.image.created)
    return None


def _normalise_time(t: str) -> str:
    try:
        d = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return t
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return d.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject_name(cat: Catalog) -> str:
    return (cat.image.ref if cat.image and cat.image.ref else "rootfs") or "rootfs"


def content_id(cat: Catalog) -> str:
    h = hashlib.sha256()
    h.update((cat.image.digest if cat.image else "").encode())
    for p in cat.packages:
        h.update(p.id.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def licenses_cdx(p: Package) -> list[dict[str, Any]]:
    lics = list(p.licenses)
    if not lics:
        return []
    if all(is_simple_id(x) or (x.startswith("LicenseRef-") and " " not in x) for x in lics):
        out = []
        for x in lics:
            if is_simple_id(x):
                out.append({"license": {"id": x}})
            else:
                out.append({"license": {"name": x[len("LicenseRef-") :]}})
        return out
    # compound expressions: CycloneDX allows exactly one expression entry
    expr = lics[0] if len(lics) == 1 else " AND ".join(f"({x})" if " " in x else x for x in lics)
    return [{"expression": expr}]


def _props(p: Package) -> list[dict[str, str]]:
    props = [{"name": "honed:found_by", "value": p.found_by}, {"name": "honed:ecosystem", "value": p.ecosystem.value}]
    for i, loc in enumerate(p.locations):
        props.append({"name": f"honed:location:{i}:path", "value": loc.path})
        if loc.layer:
            props.append({"name": f"honed:location:{i}:layer", "value": loc.layer})
    m = p.meta
    if isinstance(m, DpkgMeta):
        props += [
            {"name": "honed:deb:source", "value": m.source},
            {"name": "honed:deb:source_version", "value": m.source_version},
            {"name": "honed:deb:arch", "value": m.arch},
            {"name": "honed:deb:installed_size", "value": str(m.installed_size)},
        ]
    elif isinstance(m, PythonMeta):
        props.append({"name": "honed:python:dist_dir", "value": m.dist_dir})
    elif isinstance(m, GoModMeta):
        props.append({"name": "honed:go:toolchain", "value": m.go_version})
    return [x for x in props if x["value"]]


def component(p: Package) -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": "application" if p.ecosystem is Ecosystem.BINARY else "library",
        "bom-ref": p.id,
        "name": p.name,
    }
    if isinstance(p.meta, JarMeta) and p.meta.group_id:
        c["group"] = p.meta.group_id
    if p.version:
        c["version"] = p.version
    lic = licenses_cdx(p)
    if lic:
        c["licenses"] = lic
    if p.purl:
        c["purl"] = p.purl
    if isinstance(p.meta, JarMeta) and p.meta.sha1:
        c["hashes"] = [{"alg": "SHA-1", "content": p.meta.sha1}]
    props = _props(p)
    if props:
        c["properties"] = props
    return c


def dpkg_dependencies(cat: Catalog) -> list[dict[str, Any]]:
    """Depends/Pre-Depends between installed Debian packages (the first installed alternative of each
    clause; virtual packages and absent ones are left out)."""
    by_name: dict[str, str] = {}
    for p in cat.packages:
        if isinstance(p.meta, DpkgMeta):
            by_name.setdefault(p.name, p.id)
    out = []
    for p in cat.packages:
        if not isinstance(p.meta, DpkgMeta):
            continue
        deps: set[str] = set()
        for clause in p.meta.depends:
            for alt in clause.split("|"):
                words = alt.split()
                name = words[0].split(":")[0] if words else ""
                if name in by_name:
                    if by_name[name] != p.id:
                        deps.add(by_name[name])
                    break
        if deps:
            out.append({"ref": p.id, "dependsOn": sorted(deps)})
    return out


def to_dict(cat: Catalog, *, created: str | None = None) -> dict[str, Any]:
    subject: dict[str, Any] = {"type": "container", "bom-ref": "honed:subject", "name": subject_name(cat)}
    if cat.image and cat.image.digest:
        subject["version"] = cat.image.digest
        algo, _, hexd = cat.image.digest.partition(":")
        if algo == "sha256" and len(hexd) == 64:
            subject["hashes"] = [{"alg": "SHA-256", "content": hexd}]
    metadata: dict[str, Any] = {
        "tools": {"components": [{"type": "application", "name": "honed", "version": __version__}]},
        "component": subject,
    }
    ts = sbom_time(cat, created)
    if ts:
        metadata["timestamp"] = ts
    components = []
    if cat.distro and cat.distro.id:
        components.append(
            {
                "type": "operating-system",
                "bom-ref": f"honed:os:{cat.distro.id}-{cat.distro.version_id}",
                "name": cat.distro.id,
                **({"version": cat.distro.version_id} if cat.distro.version_id else {}),
                **({"description": cat.distro.pretty_name} if cat.distro.pretty_name else {}),
            }
        )
    components.extend(component(p) for p in cat.packages)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NS, content_id(cat))}",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [
            {"ref": "honed:subject", "dependsOn": [c["bom-ref"] for c in components]},
            *dpkg_dependencies(cat),
        ],
    }


def dumps(cat: Catalog, *, created: str | None = None) -> str:
    return json.dumps(to_dict(cat, created=created), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
