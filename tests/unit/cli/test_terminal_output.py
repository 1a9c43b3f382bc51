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
