"""`honed harden IMAGE --usage usage.json`: write IMAGE-hardened without what was never used."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    from honed.cli.cmd_analyze import add_policy_args

    p = sub.add_parser("harden", help="remove unused packages and write a new image with a removal log")
    p.add_argument("image", metavar="IMAGE", help="image reference (oci:DIR[:TAG], docker-archive:FILE, …)")
    add_policy_args(p)
    p.add_argument("-t", "--tag", metavar="NAME:TAG", help="tag of the result (default: NAME:TAG-hardened)")
    p.add_argument("-o", "--output", metavar="DEST", help="destination image reference (any writable transport)")
    p.add_argument("--force", action="store_true", help="replace an existing destination")
    p.add_argument("--removal-log", metavar="FILE", help="write removal-log.json here")
    p.add_argument("--analysis", metavar="FILE", help="also write analysis.json here")
    p.add_argument("--squash", action="store_true", help="write a single layer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from honed.cli.cmd_analyze import build_request
    from honed.harden import HardenOptions
    from honed.harden.api import harden_image

    opts = HardenOptions(dest=args.output, tag=args.tag, force=args.force, mode=args.mode, squash=args.squash)
    res = harden_image(build_request(args), opts,
                       removal_log=Path(args.removal_log) if args.removal_log else None,
                       analysis_out=Path(args.analysis) if args.analysis else None)
    s = res.result.removal_log["summary"]
    ref = res.result.image_ref
    print(f"wrote {ref} ({ref.digest})")
    print(f"removed {s['packages_removed']} packages, {s['files_removed']} paths, "
          f"{s['bytes_removed'] / 1e6:.1f} MB, {s['cves_removed']} CVEs")
    if s["flagged_removals"] and not getattr(args, "quiet", False):
        print("  worth a look (rarely used but legitimate, or tools a runtime seldom needs):")
        for f in s["flagged_removals"]:
            print(f"    {f}")
    return 0
