"""Entry point. Each command lives in `honed.cli.cmd_<name>` with two functions:

    add_parser(subparsers) -> None     # must import nothing heavy: `honed --help` stays fast
    run(args) -> int                   # imports the library lazily, returns an exit code

Errors from the library are mapped to exit codes here and nowhere else (DESIGN §3).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from honed import __version__

# The explicit, ordered list of commands. A command module that is not there yet is skipped.
COMMANDS = ("inspect", "sbom", "db", "scan", "profile", "analyze", "harden", "verify", "pipeline", "record")

EXIT_OK, EXIT_GATE, EXIT_VERIFY, EXIT_USAGE, EXIT_ENV, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default exit code 2 collides with EXIT_VERIFY
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"honed: error: {message}\n")


class _SafeFormatter(logging.Formatter):
    """Log lines name image paths and packages: control characters in them are shown, never sent raw."""

    def format(self, record: logging.LogRecord) -> str:
        from honed.cli.common import terminal_safe_text

        return terminal_safe_text(super().format(record))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="honed",
        description="Scan, profile, strip and verify container images.",
        epilog="exit codes: 0 ok, 1 gate failed, 2 verification failed, 3 bad input, "
        "4 environment missing something, 5 internal error",
    )
    parser.add_argument("--version", action="version", version=f"honed {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output, no warnings")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"honed.cli.cmd_{name}")
        except ModuleNotFoundError as e:
            if e.name == f"honed.cli.cmd_{name}":
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from honed.cli.common import SafeTerminalWriter, terminal_safe_text

    # -q: warnings too stay out of the terminal (problems are still in every report)
    level = logging.ERROR if args.quiet else logging.WARNING - 10 * min(args.verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("honed: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if sys.stdout.isatty():  # image-supplied names in printed summaries must not reach a terminal as escapes
        sys.stdout = SafeTerminalWriter(sys.stdout)  # type: ignore[assignment]
    from honed.errors import HonedError

    try:
        return int(args.func(args))
    except HonedError as e:
        print(f"honed: error: {terminal_safe_text(e.render())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("honed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # an internal error: say so in one line, full trace only with -vv
        if args.verbose >= 2:
            raise
        msg = terminal_safe_text(f"{type(e).__name__}: {e}")
        print(f"honed: internal error: {msg} (rerun with -vv for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
