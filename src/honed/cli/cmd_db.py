"""`honed db import SOURCE…`, `honed db update`, `honed db status`: the local advisory database."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

_DB_HELP = "database file (default: $HONED_DB or ~/.cache/honed/db/honed.db)"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("db", help="build, update and inspect the vulnerability database")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")

    i = dsub.add_parser("import", help="build the database from OSV files (JSON, JSONL, gzip, zip, dirs), "
                        "the CISA KEV catalogue and CVSS tables")
    i.add_argument("sources", nargs="+", metavar="SOURCE")
    i.add_argument("--db", help=_DB_HELP)
    i.set_defaults(func=run, action="import")

    u = dsub.add_parser("update", help="download the public exports (OSV per ecosystem, KEV) and rebuild")
    u.add_argument("--db", help=_DB_HELP)
    u.add_argument("--source", action="append", default=[], metavar="URL",
                   help="download this URL instead of the defaults (repeatable; append #sha256=HEX to pin); "
                   "also $HONED_DB_SOURCES")
    u.add_argument("--retries", type=int, default=3, help="attempts per download (default 3)")
    u.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    u.set_defaults(func=run, action="update")

    s = dsub.add_parser("status", help="sources, record counts, build time, age and content digest")
    s.add_argument("--db", help=_DB_HELP)
    s.add_argument("--max-age-days", type=float, default=None,
                   help="warn when older than this (default 7, or $HONED_DB_MAX_AGE_DAYS)")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=run, action="status")

    def usage(args: argparse.Namespace) -> int:
        p.print_help()
        return 3

    p.set_defaults(func=usage)


def _print_import(rep: Any) -> None:
    print(f"built {rep.path} in {rep.seconds:.1f}s: {rep.advisories} advisories, {rep.affected} affected "
          f"packages, {rep.kev} KEV, {rep.cvss} CVSS rows")
    for s in rep.sources:
        extra = []
        if s.corrupt:
            extra.append(f"{s.corrupt} corrupt skipped")
        if s.withdrawn:
            extra.append(f"{s.withdrawn} withdrawn skipped")
        if s.duplicates:
            extra.append(f"{s.duplicates} duplicates")
        print(f"  {s.name}: {s.kind}, {s.records} records" + (f" ({', '.join(extra)})" if extra else ""))
    print(f"digest {rep.digest}")


def run(args: argparse.Namespace) -> int:
    from honed.vuln import db as vdb

    if args.action in ("import", "update"):
        with _Progress(enabled=not args.quiet) as prog:
            if args.action == "import":
                rep = vdb.import_sources(args.sources, args.db, progress=prog.step)
            else:
                from honed.vuln.update import update

                rep = update(args.db, args.source, attempts=max(1, args.retries), timeout=args.timeout,
                             progress=prog.step)
        _print_import(rep)
        return 0
    max_age = args.max_age_days
    if max_age is None:
        max_age = float(os.environ.get("HONED_DB_MAX_AGE_DAYS", "7"))
    with vdb.open_db(args.db) as d:
        st = d.status(max_age_days=max_age)
    if args.json:
        from honed.cli.common import dump_json

        sys.stdout.write(dump_json(st.to_dict()))
    else:
        print(f"database  {st.path}")
        print(f"digest    {st.digest}")
        print(f"built at  {st.built_at} ({st.age_days:.1f} days ago)")
        print(f"records   {st.advisories} advisories, {st.affected} affected packages, {st.kev} KEV, {st.cvss} CVSS")
        print("ecosystems " + ", ".join(f"{k} {v}" for k, v in sorted(st.ecosystems.items())))
        print("sources")
        for s in st.sources:
            print(f"  {s['name']}: {s['kind']}, {s['records']} records, newest {s['newest_record'] or '-'}, "
                  f"sha256 {s['sha256'][:16]}…")
    if st.stale:
        print(f"honed: warning: the database is {st.age_days:.0f} days old (threshold {st.max_age_days:g}); "
              "run `honed db update`", file=sys.stderr)
    return 0


class _Progress:
    """A rich spinner naming the source being read (on a terminal); plain lines otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._status: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled and sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status("building the vulnerability database")
            self._status.__enter__()
        return self

    def step(self, what: str) -> None:
        if not self.enabled:
            return
        if self._status is not None:
            self._status.update(f"reading {what}")
        else:
            print(f"honed: reading {what}", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
