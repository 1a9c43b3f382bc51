"""`honed profile`: run the image's app under tracing and write usage.json (or merge usage files)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "profile",
        help="run the image's app with its tests/probes and record every file it uses",
        description="Run IMAGE as its config says in a sandbox (no daemon), drive it with in-image tests, HTTP "
        "probes, host-side tests or a timed run, and write the files and packages it used to usage.json. "
        "With --merge, combine usage files of one image instead.",
    )
    p.add_argument("image", nargs="?", help="image reference, e.g. oci:DIR:TAG")
    p.add_argument(
        "--test", action="append", default=[], metavar="CMD", help="command run inside the image (repeatable)"
    )
    p.add_argument(
        "--http-probe",
        action="append",
        default=[],
        metavar="PORT[/PATH]",
        help="GET / and PATH on PORT (repeatable)",
    )
    p.add_argument(
        "--host-test", action="append", default=[], metavar="CMD",
        help="shell command run on the host with HONED_TARGET_URL set (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--openapi", metavar="PATH", help="path of the app's OpenAPI JSON; GET its parameter-free paths"
    )
    p.add_argument(
        "--port", type=int, help="the app's port (default: from --http-probe or the image's ExposedPorts)"
    )
    p.add_argument("--duration", type=float, metavar="S", help="let the app run on its own for S seconds")
    p.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="kill a test after S seconds (600)"
    )
    p.add_argument(
        "--start-timeout", type=float, default=30.0, metavar="S", help="wait for the app's port (30)"
    )
    p.add_argument("--allow-failing-tests", action="store_true", help="keep the evidence when tests fail")
    p.add_argument("--backend", choices=("bwrap", "runc", "podman"), default="bwrap", help="sandbox (bwrap)")
    p.add_argument(
        "--trace", choices=("fanotify", "strace", "both"), default="fanotify",
        help="fanotify: cheap, opens/execs; strace: also lookups and failed lookups, slower (fanotify)",
    )  # fmt: skip
    p.add_argument("--merge", nargs="+", metavar="USAGE", help="merge these usage files instead of profiling")
    p.add_argument("-o", "--output", default="-", help="where to write usage.json (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from honed.cli.common import write_output
    from honed.errors import UserError

    if args.merge:
        if args.image:
            raise UserError("give either IMAGE or --merge, not both")
        from honed.profile.usage import load_usage, merge

        report = merge(load_usage(p) for p in args.merge)
        write_output(report.dumps(), args.output)
        return 0
    if not args.image:
        raise UserError("missing IMAGE (or --merge USAGE…)")
    from honed.profile import ProfileOptions, parse_probe, profile

    options = ProfileOptions(
        tests=tuple(args.test),
        http_probes=tuple(parse_probe(x) for x in args.http_probe),
        host_tests=tuple(args.host_test),
        openapi=args.openapi,
        port=args.port,
        duration=args.duration,
        timeout=args.timeout,
        start_timeout=args.start_timeout,
        allow_failing_tests=args.allow_failing_tests,
        backend=args.backend,
        trace=args.trace,
    )
    quiet = args.quiet or not sys.stderr.isatty()
    # A CI runner cancels with SIGTERM: turn it into KeyboardInterrupt so the sandbox is torn down (unmounted,
    # processes killed) on the way out instead of being left to the next run's sweep.
    import signal

    def _terminate(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if quiet:
            report = profile(args.image, options)
        else:
            from rich.console import Console

            console = Console(stderr=True)
            with console.status("profiling…") as status:
                report = profile(args.image, options, progress=lambda m: status.update(f"profiling: {m}"))
    finally:
        signal.signal(signal.SIGTERM, previous)
    write_output(report.dumps(), args.output)
    for r in report.runs:
        print(f"honed: {r.id} ({r.tracer}, {r.seconds:.1f} s): {r.summary.line()}", file=sys.stderr)
    return 0
