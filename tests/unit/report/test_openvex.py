"""OpenVEX writer: schema-valid against the official 0.2 schema, deterministic, and honest."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema.validators import validator_for

from honed.report.openvex import RemovedVuln, image_purl, write_openvex

TS = "2026-01-02T03:04:05Z"
PRODUCT = image_purl("127.0.0.1:5000/demo/flask-app", "sha256:" + "ab" * 32, tag="1-hardened")
REMOVED = [
    RemovedVuln("CVE-2023-0464", "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64", "openssl"),
    RemovedVuln("CVE-2023-0464", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64", "libssl3"),
    RemovedVuln("CVE-2022-1271", "pkg:deb/debian/gzip@1.12-1?arch=amd64", "gzip", aliases=("DSA-5122-1",)),
    RemovedVuln("CVE-2024-0001", "pkg:deb/debian/perl@5.36.0-7?arch=amd64", "perl"),
]


def _validate(schemas: Path, doc: dict) -> None:
    schema = json.loads((schemas / "openvex" / "openvex_json_schema.json").read_text())
    cls = validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(doc)


def test_schema_valid_and_shaped(schemas: Path) -> None:
    doc = json.loads(write_openvex(PRODUCT, REMOVED, timestamp=TS, still_present={"CVE-2024-0001"}))
    _validate(schemas, doc)
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    names = [s["vulnerability"]["name"] for s in doc["statements"]]
    assert names == ["CVE-2022-1271", "CVE-2023-0464"]  # sorted; the one still present has no statement
    ssl = doc["statements"][1]
    assert ssl["status"] == "not_affected" and ssl["justification"] == "component_not_present"
    assert ssl["products"][0]["@id"] == PRODUCT and PRODUCT.startswith("pkg:oci/flask-app@sha256")
    subs = [c["@id"] for c in ssl["products"][0]["subcomponents"]]
    assert subs == sorted(subs) and len(subs) == 2 and all(s.startswith("pkg:deb/") for s in subs)
    assert doc["statements"][0]["vulnerability"]["aliases"] == ["DSA-5122-1"]


def test_alias_still_present_suppresses_statement() -> None:
    doc = json.loads(write_openvex(PRODUCT, REMOVED, timestamp=TS, still_present={"DSA-5122-1"}))
    assert "CVE-2022-1271" not in [s["vulnerability"]["name"] for s in doc["statements"]]


def test_deterministic_regardless_of_input_order() -> None:
    a = write_openvex(PRODUCT, REMOVED, timestamp=TS)
    b = write_openvex(PRODUCT, list(reversed(REMOVED)), timestamp=TS)
    assert a == b
    other = write_openvex(image_purl("x", "sha256:" + "cd" * 32), REMOVED, timestamp=TS)
    assert json.loads(a)["@id"] != json.loads(other)["@id"]
