"""Reports printed to a terminal cannot carry the image's control characters (a hostile package name)."""

from __future__ import annotations

import os
import subprocess
import sys

from honed.cli.common import terminal_safe

EVIL = "evil\x1b[2J\x1b]0;pwned\x07\r"


def test_terminal_safe_escapes_controls_but_keeps_text() -> None:
    out = terminal_safe(f"{EVIL} ü\tx\u009b\n".encode())
    assert out == b"evil\\x1b[2J\\x1b]0;pwned\\x07\\x0d \xc3\xbc\tx\\xc2\\x9b\n"


def test_write_output_on_a_real_tty_escapes_and_a_pipe_gets_bytes_as_they_are() -> None:
    code = f"from honed.cli.common import write_output; write_output({EVIL!r} + '\\n', None)"
    main, sub = os.openpty()
    try:
        subprocess.run([sys.executable, "-c", code], stdout=sub, check=True, timeout=60)
        seen = os.read(main, 4096)
    finally:
        os.close(main)
        os.close(sub)
    assert b"\x1b" not in seen and b"\\x1b[2J" in seen
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout
    assert piped == (EVIL + "\n").encode()


def test_errors_log_lines_and_printed_summaries_reach_a_terminal_escaped() -> None:
    # an entry name, a package name or a path from the image can end up in an error, a warning or a summary
    # line printed by a command; on a terminal none of them may carry a raw escape
    code = (
        "import logging, sys\n"
        "from honed.cli import main as m\n"
        "from honed.errors import UserError\n"
        "def run(args):\n"
        f"    print('package ' + {EVIL!r})\n"
        f"    logging.getLogger('honed.x').warning('problem in %s', {EVIL!r})\n"
        f"    raise UserError('bad entry ' + {EVIL!r})\n"
        "p = m.build_parser(); ns = p.parse_args([]); ns.func = run\n"
        "m.build_parser = lambda: type('P', (), {'parse_args': lambda self, a: ns})()\n"
        "sys.exit(m.main([]))\n"
    )
    main, sub = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-c", code], stdout=sub, stderr=sub, timeout=60)
        seen = os.read(main, 65536)
    finally:
        os.close(main)
        os.close(sub)
    assert proc.returncode == 3
    assert b"\x1b" not in seen and b"\x07" not in seen
    assert seen.count(b"\\x1b[2J") == 3  # the summary line, the warning and the error, each shown escaped
