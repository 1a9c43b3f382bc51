"""`honed record verify DIR [--key PUB]`: check a hardening record's signature, checksums and file set."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("record", help="work with hardening records (verify)")
    rsub = p.add_subparsers(dest="record_command", metavar="ACTION")
    v = rsub.add_parser(
        "verify",
        help="check a record's signature, every checksum, and that no file was added or removed",
        description="Exit 0 when the record is intact, 3 naming the first mismatch otherwise.",
    )
    v.add_argument("directory", metavar="DIR", help="the record directory (pipeline --output)")
    v.add_argument(
        "--key",
        metavar="PUB",
        help="ed25519 public key (PEM, ssh-ed25519 or raw) that must have signed the record; without it the "
        "key inside the record is used, which proves integrity but not who signed",
    )
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=run)
    pu = rsub.add_parser(
        "push",
        help="push a record's verified image and attach the record to it (retry of a failed pipeline push)",
    )
    pu.add_argument("directory", metavar="DIR", help="the record directory")
    pu.add_argument("target", metavar="REG/REPO:TAG", help="where to push")
    pu.add_argument("--image", metavar="REF", help="the image to push (default: the local copy the record names)")
    pu.add_argument("--key", metavar="PUB", help="public key the record must be signed with")
    pu.set_defaults(func=run_push)
    p.set_defaults(func=_usage(p))


def _usage(p: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace) -> int:
        p.print_help()
        return 3

    return show


def run(args: argparse.Namespace) -> int:
    from honed.report.record import verify_record

    chk = verify_record(args.directory, public_key=args.key)
    if args.json:
        import json

        print(json.dumps({"ok": True, "directory": chk.directory, "keyid": chk.keyid, "trusted_key": chk.trusted_key,
                          "ephemeral": chk.ephemeral, "files": chk.files,
                          "image": {"name": chk.image[0], "sha256": chk.image[1]} if chk.image else None},
                         indent=2, sort_keys=True))
    else:
        print(f"OK: {chk.describe()}")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from honed.verify.publish import Target, push_record

    t = Target.parse(args.target)
    digest = push_record(args.directory, t, image=args.image, public_key=args.key)
    print(f"pushed {t} and attached the record as {digest}")
    return 0
