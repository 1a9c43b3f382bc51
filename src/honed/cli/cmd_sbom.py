"""`honed sbom IMAGE`: every package in an image as CycloneDX, SPDX, honed JSON or a table."""

from __future__ import annotations

import argparse
import sys

FORMATS = ("table", "json", "cyclonedx-json", "spdx-json")


def add_parser(subparsers) -> None:  # type: ignore[no-untyped-def]
    p = subparsers.add_parser(
        "sbom",
        help="list every package in an image (CycloneDX, SPDX, JSON, table)",
        description="Catalogue an image: OS packages (dpkg, apk, rpm), language packages (Python, npm, Java, Go, "
        "Rust) and unowned binaries, with licences, files and layers.",
        epilog="IMAGE: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://REF, dir:ROOTFS, or a "
        "catalog.json written by `-o json` (converted without reading the image again). "
        "Catalogers: presets default/all, tags (os, language, binary, dpkg, python…) or names; "
        "'-binary' removes, '+x' adds. Exit 3 with --strict when any file could not be read.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "-o",
        "--output",
        action="append",
        metavar="FORMAT[=FILE]",
        help=f"output format ({', '.join(FORMATS)}), optionally written to FILE; repeatable (default: table)",
    )
    p.add_argument("--catalogers", default="default", metavar="SELECTION", help="which catalogers run")
    p.add_argument("--strict", action="store_true", help="any problem reading the image is an error (exit 3)")
    p.add_argument("--created", metavar="RFC3339", help="document timestamp (default: SOURCE_DATE_EPOCH or the image's)")
    p.add_argument("--cache-dir", metavar="DIR", help="image extraction cache")
    p.set_defaults(func=run)


def _outputs(specs: list[str] | None) -> list[tuple[str, str | None]]:
    from honed.errors import UserError

    out: list[tuple[str, str | None]] = []
    for spec in specs or ["table"]:
        fmt, _, dest = spec.partition("=")
        if fmt not in FORMATS:
            raise UserError(f"unknown output format {fmt!r}", hint=f"choose from {', '.join(FORMATS)}")
        out.append((fmt, dest or None))
    if sum(1 for _, d in out if d is None) > 1:
        raise UserError("only one output can go to stdout", hint="write the others with FORMAT=FILE")
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from honed.catalog import catalog_image
    from honed.catalog.registry import select
    from honed.cli.common import write_output
    from honed.errors import UserError

    outputs = _outputs(args.output)
    created = _created(args.created) if args.created else None
    select(args.catalogers)  # a bad selection fails before the image is read
    if args.image.endswith(".json") and Path(args.image).is_file():
        from honed.catalog import native

        cat = native.load(args.image)  # a saved `-o json` catalog: convert it without reading the image again
    elif sys.stderr.isatty() and not getattr(args, "quiet", False):
        from rich.console import Console

        with Console(stderr=True).status(f"cataloguing {args.image}"):
            cat = catalog_image(args.image, select=args.catalogers, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    else:
        cat = catalog_image(args.image, select=args.catalogers, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    for fmt, dest in outputs:
        # undecodable file names (surrogate-escaped) become \udcXX escapes: still valid JSON, no crash
        write_output(render(cat, fmt, created=created).encode("utf-8", "backslashreplace"), dest)
    for pr in cat.problems[:20]:
        print(f"honed: warning: {pr.path}: {pr.message}", file=sys.stderr)
    if len(cat.problems) > 20:
        print(f"honed: warning: … and {len(cat.problems) - 20} more problems", file=sys.stderr)
    if args.strict and cat.problems:
        raise UserError(f"{len(cat.problems)} problem(s) while cataloguing {args.image} (--strict)")
    return 0


def _created(text: str) -> str:
    """An RFC 3339 time → UTC "YYYY-MM-DDTHH:MM:SSZ" (what both SBOM schemas accept)."""
    import datetime as dt

    from honed.errors import UserError

    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--created {text!r} is not an RFC 3339 time", hint="e.g. 2025-01-01T00:00:00Z") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return d.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(cat, fmt: str, *, created: str | None = None) -> str:  # type: ignore[no-untyped-def]
    if fmt == "json":
        from honed.catalog import native

        return native.dumps(cat)
    if fmt == "cyclonedx-json":
        from honed.report import cyclonedx

        return cyclonedx.dumps(cat, created=created)
    if fmt == "spdx-json":
        from honed.report import spdx

        return spdx.dumps(cat, created=created)
    from honed.catalog import native

    return native.table(cat)
