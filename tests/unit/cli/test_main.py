"""The CLI entry: help, version, exit-code mapping, no heavy imports at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from honed import __version__
from honed.cli import main as cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: honed" in capsys.readouterr().out


def test_unknown_option_is_exit_3_not_argparse_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--no-such-option"])
    assert e.value.code == cli.EXIT_USAGE


def test_help_imports_nothing_heavy() -> None:
    # `honed --help` must start fast: none of the libraries behind the stages may load for it.
    code = (
        "import sys\n"
        "from honed.cli import main as m\n"
        "try:\n    m.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [n for n in ('rich', 'jsonschema', 'yaml', 'cryptography', 'zstandard', 'debian', "
        "'packageurl', 'sqlite3', 'cvss', 'tarfile') if n in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY=", f"heavy modules imported at start-up: {out}"


def test_library_errors_map_to_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from honed.errors import EnvironmentMissingError, UserError

    def boom_user(args: object) -> int:
        raise UserError("bad thing", hint="do the other thing")

    def boom_env(args: object) -> int:
        raise EnvironmentMissingError("runc is not installed: apt-get install runc")

    def boom_internal(args: object) -> int:
        raise RuntimeError("oops")

    parser = cli.build_parser()
    ns = parser.parse_args([])
    for func, code, text in (
        (boom_user, 3, "bad thing (hint: do the other thing)"),
        (boom_env, 4, "apt-get install runc"),
        (boom_internal, 5, "internal error: RuntimeError: oops"),
    ):
        ns.func = func
        monkeypatch.setattr(cli, "build_parser", lambda ns=ns: _FixedParser(ns))
        assert cli.main([]) == code
        err = capsys.readouterr().err
        assert text in err
        assert "Traceback" not in err


class _FixedParser:
    def __init__(self, ns: object) -> None:
        self.ns = ns

    def parse_args(self, argv: object) -> object:
        return self.ns

    def print_help(self) -> None:  # pragma: no cover - not reached when func is set
        pass


def test_quiet_silences_warnings_but_not_errors() -> None:
    code = (
        "import logging, sys\n"
        "from honed.cli import main as m\n"
        "from honed.errors import UserError\n"
        "def run(args):\n"
        "    logging.getLogger('honed.x').warning('a problem in one package')\n"
        "    raise UserError('the run could not finish')\n"
        "p = m.build_parser(); ns = p.parse_args(sys.argv[1:]); ns.func = run\n"
        "m.build_parser = lambda: type('P', (), {'parse_args': lambda self, a: ns})()\n"
        "sys.exit(m.main([]))\n"
    )
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    quiet = subprocess.run([sys.executable, "-c", code, "-q"], capture_output=True, text=True, timeout=60)
    assert loud.returncode == quiet.returncode == 3
    assert "a problem in one package" in loud.stderr and "a problem in one package" not in quiet.stderr
    assert "the run could not finish" in quiet.stderr
