"""`honed scan IMAGE` / `honed scan --sbom FILE`: findings as a table, JSON, SARIF or CycloneDX VEX."""

from __future__ import annotations

import argparse
import sys
from typing import Any

_SEVERITIES = ("negligible", "low", "medium", "high", "critical")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("scan", help="find known vulnerabilities in an image or an SBOM")
    p.add_argument("image", nargs="?", metavar="IMAGE", help="image reference (oci:DIR[:TAG], docker-archive:…)")
    p.add_argument("--sbom", metavar="FILE", help="scan a CycloneDX or SPDX JSON SBOM instead of an image")
    p.add_argument("--db", help="database file (default: $HONED_DB or ~/.cache/honed/db/honed.db)")
    p.add_argument("-f", "--format", default="table", choices=("table", "json", "sarif", "cyclonedx-vex"))
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically) instead of stdout")
    p.add_argument("--severity", choices=_SEVERITIES, help="show only findings at or above this severity")
    p.add_argument("--fail-on", choices=_SEVERITIES,
                   help="exit 1 when a finding at or above this remains (never hides findings)")
    p.add_argument("--ignore-unfixed", action="store_true", help="leave out findings with no fixed version")
    p.add_argument("--ignore-file", metavar="YAML", help="ignore rules: id, package|purl, reason, expires")
    p.add_argument("--vex", action="append", default=[], metavar="FILE",
                   help="OpenVEX document; not_affected statements suppress (repeatable)")
    p.add_argument("--distro", metavar="ID:VERSION", help="override the distro release (e.g. debian:12)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from honed import __version__
    from honed.cli.common import write_output
    from honed.errors import UserError
    from honed.model import Severity
    from honed.vuln import policy
    from honed.vuln.db import open_db
    from honed.vuln.scan import ScanOptions, scan

    if bool(args.image) == bool(args.sbom):
        raise UserError("give either an IMAGE or --sbom FILE")
    sev = Severity(args.severity.upper()) if args.severity else None
    fail_on = Severity(args.fail_on.upper()) if args.fail_on else None
    opts = ScanOptions(
        ignore_file=Path(args.ignore_file) if args.ignore_file else None,
        vex_files=tuple(Path(v) for v in args.vex),
        distro=args.distro,
    )
    with open_db(args.db) as db:
        if args.sbom:
            from honed.vuln.sbom import read_sbom

            target: Any = read_sbom(args.sbom)
        else:
            target = args.image
        result = scan(target, db, opts)
    verdict = policy.gate(result.findings, fail_on, ignore_unfixed=args.ignore_unfixed)
    view = policy.shown(result.findings, sev, ignore_unfixed=args.ignore_unfixed, include_suppressed=True)
    if args.format == "json":
        from honed.report import scan_json

        text = scan_json.render(result, min_severity=sev, ignore_unfixed=args.ignore_unfixed, verdict=verdict,
                                tool_version=__version__)
    elif args.format == "sarif":
        from honed.report import sarif

        text = sarif.render(result, view, tool_version=__version__)
    elif args.format == "cyclonedx-vex":
        from honed.vuln import cdx_vex

        text = cdx_vex.render(result, view, tool_version=__version__)
    else:
        from honed.report import table

        text = table.render(result, min_severity=sev, ignore_unfixed=args.ignore_unfixed, verdict=verdict)
    write_output(text, args.output)
    if args.format != "table" or args.output:
        for n in result.notices:
            print(f"honed: notice: {n}", file=sys.stderr)
        if not verdict.passed:
            print(f"honed: gate failed: {len(verdict.failing)} finding(s) at or above "
                  f"{verdict.threshold.value.lower() if verdict.threshold else ''}", file=sys.stderr)
    return verdict.exit_code
