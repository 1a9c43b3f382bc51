"""`honed verify IMAGE --hardened IMAGE2 --test …`: run the same drivers against the hardened image, rescan
both, and say which removed packages the evidence of a failure points at."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    from honed.cli.cmd_pipeline import add_driver_args

    p = subparsers.add_parser(
        "verify",
        help="run the tests against a hardened image and compare its scan with the original's",
        description="Exit 0 when every driver passes on the hardened image, 2 when one fails (the output names "
        "the removed packages its evidence points at).",
    )
    p.add_argument("image", help="the original image")
    p.add_argument("--hardened", required=True, metavar="IMAGE2", help="the hardened image")
    add_driver_args(p)
    p.add_argument("--no-rescan", action="store_true", help="skip the before/after vulnerability scan")
    p.add_argument("-o", "--output", metavar="FILE", help="write the verification report (JSON) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from honed.cli.cmd_pipeline import profile_options
    from honed.cli.common import dump_json, write_output
    from honed.verify import VerifyOptions, verify_images

    opts = VerifyOptions(profile=profile_options(args), db=Path(args.db) if args.db else None,
                         rescan=not args.no_rescan)
    rep = verify_images(args.image, args.hardened, opts)
    if args.output:
        write_output(dump_json(rep.to_json()), args.output)
    for d in rep.check.drivers:
        print(f"{'pass' if d.ok else 'FAIL'}  {d.kind:<9} {d.command}")
    if rep.check.error:
        print(f"FAIL  app       {rep.check.error}")
    if rep.delta is not None:
        v = rep.delta
        print(f"findings: {v.before_total} → {v.after_total} ({v.removed_total} removed); "
              f"packages: {rep.original['packages']} → {rep.hardened['packages']}; "
              f"bytes: {rep.original['bytes']} → {rep.hardened['bytes']}")
    if rep.ok:
        return 0
    dec = rep.decision
    if dec is not None and dec.explained:
        for pkg, why in dec.reasons:
            print(f"put back: {pkg}  ({why})", file=sys.stderr)
        print(f"hint: honed harden … --keep {' --keep '.join(dec.restore)}", file=sys.stderr)
    else:
        print("no evidence links the failure to a removed package", file=sys.stderr)
    return 2
