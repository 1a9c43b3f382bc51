"""`honed analyze IMAGE --usage usage.json`: removal candidates, upgrade targets, and why each package stays."""

from __future__ import annotations

import argparse
from typing import Any


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """Options shared with `honed harden`."""
    p.add_argument("--usage", required=True, metavar="FILE", help="usage.json from `honed profile` of this image")
    p.add_argument("--preset", choices=("aggressive", "standard", "light"), default=None,
                   help="aggressive (default): every unused package; standard: unused with a CVE; "
                   "light: unused with a HIGH/CRITICAL CVE")
    p.add_argument("--keep", action="append", default=[], metavar="PKG|GLOB",
                   help="never remove: a package name or name glob, or a path glob starting with / (repeatable)")
    p.add_argument("--policy", metavar="FILE", help="YAML policy file (preset, keep, protected, default_keep, "
                   "lookups, follow_depends, mode)")
    p.add_argument("--mode", choices=("packages", "files"), default=None,
                   help="files: also drop never-touched files of used packages")
    p.add_argument("--db", metavar="FILE", help="vulnerability database (default: $HONED_DB or ~/.cache/honed)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("analyze", help="join inventory, findings and usage: what can go, what to upgrade, why")
    p.add_argument("image", metavar="IMAGE", help="image reference (oci:DIR[:TAG], docker-archive:FILE, …)")
    add_policy_args(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write analysis.json here ('-' for stdout)")
    p.add_argument("--check-repo", action="store_true",
                   help="look up upgrade targets' fixed versions in the Debian release's repository (network)")
    p.set_defaults(func=run)


def build_request(args: argparse.Namespace) -> Any:
    from dataclasses import replace
    from pathlib import Path

    from honed.analyze.api import ImageAnalysisRequest
    from honed.analyze.policy import Policy, check_mode, check_preset, load_policy

    pol = Policy()
    if args.policy:
        pol = load_policy(args.policy, pol)
    if args.preset:
        pol = replace(pol, preset=check_preset(args.preset))
    if args.keep:
        pol = replace(pol, keep=tuple(dict.fromkeys((*pol.keep, *args.keep))))
    if args.mode:
        pol = replace(pol, mode=check_mode(args.mode))
    return ImageAnalysisRequest(image=args.image, usage=Path(args.usage), policy=pol,
                                db=Path(args.db) if args.db else None,
                                check_repository=bool(getattr(args, "check_repo", False)))


def run(args: argparse.Namespace) -> int:
    import sys

    from honed.analyze import analysis_to_json
    from honed.analyze.api import analyze_image
    from honed.cli.common import dump_json, write_output

    res = analyze_image(build_request(args))
    doc = analysis_to_json(res.analysis)
    if args.output:
        write_output(dump_json(doc), args.output)
    out = sys.stderr if args.output == "-" else sys.stdout  # keep stdout for the JSON
    s = doc["summary"]
    print(f"{s['packages']} packages: {s['removal_candidates']} removal candidates "
          f"({s['bytes_removable'] / 1e6:.1f} MB, {s['cves_removable']} CVEs), {s['kept']} kept "
          f"({s['kept_used']} used), {s['upgrade_targets']} upgrade targets", file=out)
    if not args.output:
        for u in doc["upgrade_targets"]:
            repo = {True: ", in the repository", False: ", not in the repository"}.get(u["in_repository"], "")
            if u["repository_version"] and u["in_repository"] is None:
                repo = f", repository has {u['repository_version']}"
            print(f"  upgrade {u['name']} {u['version']} → {u['fixed_version'] or 'no fixed version known'}"
                  f" ({len(u['cves'])} CVEs{repo})", file=out)
    return 0
