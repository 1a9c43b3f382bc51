"""SPDX 2.3 JSON for a Catalog, built as plain dicts (see cyclonedx.py for why not a library).

The document DESCRIBES the image package, which CONTAINS every catalogued package. Licences are declared
as SPDX expressions; LicenseRef-… ids get a hasExtractedLicensingInfos entry, as the spec requires.
`created` is mandatory in SPDX: injected time, else SOURCE_DATE_EPOCH, else the image's creation time, else
the Unix epoch — never the wall clock, so the bytes are reproducible.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from honed import __version__
from honed.catalog.core import Catalog
from honed.model import Package
from honed.report.cyclonedx import _NS, content_id, sbom_time, subject_name

_REF = re.compile(r"LicenseRef-[A-Za-z0-9.\-]+")


def spdx_id(package_id: str) -> str:
    return "SPDXRef-Package-" + hashlib.sha256(package_id.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def declared(p: Package) -> str:
    if not p.licenses:
        return "NOASSERTION"
    if len(p.licenses) == 1:
        return p.licenses[0]
    return " AND ".join(f"({x})" if " " in x else x for x in p.licenses)


def package(p: Package) -> dict[str, Any]:
    d: dict[str, Any] = {
        "SPDXID": spdx_id(p.id),
        "name": p.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": declared(p),
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "APPLICATION" if p.ecosystem.value == "binary" else "LIBRARY",
    }
    if p.version:
        d["versionInfo"] = p.version
    if p.purl:
        d["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}]
    if p.locations:
        where = ", ".join(loc.path + (f" (layer {loc.layer})" if loc.layer else "") for loc in p.locations)
        d["sourceInfo"] = f"found by honed {p.found_by} at {where}"
    src = getattr(p.meta, "source", None)
    if src and src != p.name:
        d["comment"] = f"source package {src} {getattr(p.meta, 'source_version', '')}".strip()
    return d


def to_dict(cat: Catalog, *, created: str | None = None) -> dict[str, Any]:
    name = subject_name(cat)
    cid = content_id(cat)
    image: dict[str, Any] = {
        "SPDXID": "SPDXRef-Image",
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    }
    if cat.image and cat.image.digest:
        image["versionInfo"] = cat.image.digest
        algo, _, hexd = cat.image.digest.partition(":")
        if algo == "sha256" and len(hexd) == 64:
            image["checksums"] = [{"algorithm": "SHA256", "checksumValue": hexd}]
    packages = [image] + [package(p) for p in cat.packages]
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"}]
    rels += [
        {"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id(p.id)}
        for p in cat.packages
    ]
    refs = sorted({m for p in cat.packages for x in p.licenses for m in _REF.findall(x)})
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://honed.invalid/spdx/{uuid.uuid5(_NS, cid)}",
        "creationInfo": {
            "created": sbom_time(cat, created) or "1970-01-01T00:00:00Z",
            "creators": [f"Tool: honed-{__version__}"],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages,
        "relationships": rels,
    }
    if cat.distro and cat.distro.pretty_name:
        doc["comment"] = f"distro: {cat.distro.pretty_name}"
    if refs:
        doc["hasExtractedLicensingInfos"] = [
            {
                "licenseId": r,
                "name": r[len("LicenseRef-") :],
                "extractedText": f"Licence named {r[len('LicenseRef-'):]!r} in the package metadata; no SPDX id.",
            }
            for r in refs
        ]
    return doc


def dumps(cat: Catalog, *, created: str | None = None) -> str:
    return json.dumps(to_dict(cat, created=created), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
