"""OpenVEX 0.2 statements for the vulnerabilities that left the image with the packages honed removed.

One statement per vulnerability: status `not_affected`, justification `component_not_present`, the product
is the hardened image (its `pkg:oci/…@sha256:…` purl) and the removed package(s) that carried the
vulnerability are its subcomponents. A vulnerability that is still reported by the hardened scan (another
package still carries it) gets no statement: saying "not affected" there would be false.

Pure: data in, bytes out. The timestamp is injected so the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from packageurl import PackageURL

CONTEXT = "https://openvex.dev/ns/v0.2.0"


@dataclass(frozen=True, slots=True)
class RemovedVuln:
    """A vulnerability that a removed package carried."""

    id: str  # the advisory id as reported (CVE-…, GHSA-…, DSA-…)
    package_purl: str
    package_name: str = ""
    aliases: tuple[str, ...] = ()


def image_purl(name: str, digest: str, *, repository_url: str | None = None, tag: str | None = None) -> str:
    """The purl of an OCI image by digest (purl spec, type `oci`): `pkg:oci/NAME@sha256%3A…?…`."""
    short = name.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0].lower() or "image"
    q: dict[str, str] = {}
    if repository_url:
        q["repository_url"] = repository_url
    if tag:
        q["tag"] = tag
    return PackageURL(type="oci", name=short, version=digest, qualifiers=q).to_string()


def vex_document(
    product: str,
    removed: Iterable[RemovedVuln],
    *,
    timestamp: str,
    still_present: Collection[str] = (),
    author: str = "honed",
    tool_version: str = "",
) -> dict[str, object]:
    """Build the OpenVEX document (a dict). `still_present`: ids (or aliases) the hardened scan still reports."""
    present = set(still_present)
    by_vuln: dict[str, tuple[set[str], set[str], set[str]]] = {}  # id -> (aliases, purls, names)
    for r in removed:
        if r.id in present or present.intersection(r.aliases):
            continue
        aliases, purls, names = by_vuln.setdefault(r.id, (set(), set(), set()))
        aliases.update(a for a in r.aliases if a != r.id)
        purls.add(r.package_purl)
        if r.package_name:
            names.add(r.package_name)

    statements: list[dict[str, object]] = []
    for vid in sorted(by_vuln):
        aliases, purls, names = by_vuln[vid]
        vuln: dict[str, object] = {"name": vid}
        if aliases:
            vuln["aliases"] = sorted(aliases)
        pkgs = ", ".join(sorted(names or purls))
        statements.append(
            {
                "vulnerability": vuln,
                "products": [
                    {
                        "@id": product,
                        "subcomponents": [{"@id": p, "identifiers": {"purl": p}} for p in sorted(purls)],
                    }
                ],
                "status": "not_affected",
                "justification": "component_not_present",
                "impact_statement": f"removed from the hardened image by honed: {pkgs}",
            }
        )
    # A content-derived document id: the same statements about the same product give the same id.
    h = hashlib.sha256(json.dumps([product, statements], sort_keys=True).encode()).hexdigest()
    return {
        "@context": CONTEXT,
        "@id": f"https://honed.dev/vex/{h}",
        "author": author,
        "role": "Document Creator",
        "timestamp": timestamp,
        "version": 1,
        "tooling": f"honed {tool_version}".strip(),
        "statements": statements,
    }


def write_openvex(
    product: str,
    removed: Iterable[RemovedVuln],
    *,
    timestamp: str,
    still_present: Collection[str] = (),
    author: str = "honed",
    tool_version: str = "",
) -> bytes:
    doc = vex_document(
        product, removed, timestamp=timestamp, still_present=still_present, author=author, tool_version=tool_version
    )
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
