"""JUnit writer: well-formed (even with hostile output), counts right, shaped as consumers expect."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from honed.model import DriverResult
from honed.report.junit import write_junit

ORIGINAL: list[DriverResult | dict[str, object]] = [
    DriverResult("test", "pytest /app/tests", True, 0, 2.5, "3 passed in 0.2s"),
    DriverResult("http", "GET http://127.0.0.1:8000/", True, 200, 0.1, ""),
]
HARDENED: list[DriverResult | dict[str, object]] = [
    DriverResult("test", "pytest /app/tests", False, 1, 1.25,
                 "\x1b[31mE   ImportError: libssl.so.3: cannot open shared object file\x1b[0m\x00 <&> ]]>"),
    {"kind": "host-test", "command": "curl $HONED_TARGET_URL", "ok": False, "exit_code": None,
     "seconds": 30.0, "output_tail": "killed at timeout"},
    DriverResult("http", "GET http://127.0.0.1:8000/", True, 200, 0.1, ""),
    DriverResult("http", "GET http://127.0.0.1:8000/", True, 200, 0.1, ""),
]


def test_well_formed_and_counts() -> None:
    data = write_junit([("original", ORIGINAL), ("hardened", HARDENED)])
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")
    orig, hard = root.findall("testsuite")
    assert orig.get("name") == "original" and orig.get("failures") == "0"
    cases = hard.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "pytest /app/tests", "curl $HONED_TARGET_URL", "GET http://127.0.0.1:8000/", "GET http://127.0.0.1:8000/ #2"]
    fail = cases[0].find("failure")
    assert fail is not None and fail.get("message") == "exit code 1"
    assert "ImportError: libssl.so.3" in (fail.text or "") and "\x1b" not in (fail.text or "") and "<&> ]]>" in (fail.text or "")
    assert cases[1].find("error") is not None and cases[1].find("failure") is None
    assert cases[0].get("classname") == "honed.hardened.test" and cases[0].get("time") == "1.250"
    assert float(root.get("time") or "nan") == pytest.approx(2.5 + 0.1 + 1.25 + 30.0 + 0.2)


def test_deterministic() -> None:
    assert write_junit([("hardened", HARDENED)]) == write_junit([("hardened", list(HARDENED))])
