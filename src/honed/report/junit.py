"""JUnit XML of driver results (test commands, HTTP probes, host tests), one <testsuite> per phase.

Shaped as JUnit consumers (GitHub/GitLab test reports, Jenkins) expect: <testsuites> with tests/failures/
errors/skipped/time counts, <testcase classname name time>, a <failure message type> for a driver that ran
and failed, an <error> for one that could not run (no exit code: killed at timeout, not startable), and the
output tail in <system-out>. Characters XML 1.0 forbids (ANSI escapes, NULs in a test's output) are
replaced, so the document always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from honed.model import DriverResult

_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def clean(text: str) -> str:
    return _XML_BAD.sub("\ufffd", _ANSI.sub("", text))


def driver_from_dict(d: Mapping[str, Any]) -> DriverResult:
    """A driver entry of usage.json (schema honed.usage/v1) as a model.DriverResult."""
    return DriverResult(
        kind=str(d.get("kind", "")),
        command=str(d.get("command", "")),
        ok=bool(d.get("ok")),
        exit_code=d.get("exit_code"),
        seconds=float(d.get("seconds") or 0.0),
        output_tail=str(d.get("output_tail") or ""),
    )


def _as_driver(d: DriverResult | Mapping[str, Any]) -> DriverResult:
    return d if isinstance(d, DriverResult) else driver_from_dict(d)


def _t(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def write_junit(
    suites: Sequence[tuple[str, Iterable[DriverResult | Mapping[str, Any]]]], *, name: str = "honed"
) -> bytes:
    """`suites`: (phase name, driver results) in the order they ran, e.g. ("original", …), ("hardened", …)."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for suite_name, drivers in suites:
        ds = [_as_driver(d) for d in drivers]
        failures = sum(1 for d in ds if not d.ok and d.exit_code is not None)
        errors = sum(1 for d in ds if not d.ok and d.exit_code is None)
        secs = sum(d.seconds for d in ds)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=clean(suite_name),
            tests=str(len(ds)),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time=_t(secs),
        )
        seen: dict[str, int] = {}
        for d in ds:
            label = clean(d.command) or d.kind
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:  # consumers key test cases by (classname, name): keep them distinct
                label = f"{label} #{seen[label]}"
            case = ET.SubElement(
                suite, "testcase", classname=f"{name}.{clean(suite_name)}.{d.kind}", name=label, time=_t(d.seconds)
            )
            tail = clean(d.output_tail)
            if not d.ok:
                if d.exit_code is None:
                    el = ET.SubElement(case, "error", message=f"{d.kind} did not complete", type="DriverError")
                else:
                    el = ET.SubElement(case, "failure", message=f"exit code {d.exit_code}", type="DriverFailure")
                el.text = tail
            if tail:
                ET.SubElement(case, "system-out").text = tail
        totals["tests"] += len(ds)
        totals["failures"] += failures
        totals["errors"] += errors
        total_time += secs
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", _t(total_time))
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode() + b"\n"
