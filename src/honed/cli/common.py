"""Small helpers shared by the command modules. Import-light on purpose."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from honed.atomic import atomic_write


def write_output(text: str | bytes, dest: str | None) -> None:
    """Write to stdout, or atomically to a file (temp + rename) so a reader never sees half a report."""
    data = text.encode() if isinstance(text, str) else text
    if dest in (None, "-"):
        if sys.stdout.isatty():
            data = terminal_safe(data)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    atomic_write(Path(dest), data)  # type: ignore[arg-type]


# C0 controls but tab and newline, DEL, and UTF-8-encoded C1 controls (0x9b is a one-byte CSI)
_UNSAFE = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def terminal_safe(data: bytes) -> bytes:
    """Escape control characters before a report reaches a terminal: package names, versions and titles come
    from the image, and an ESC in them could clear the screen, retitle the window or forge output lines."""
    return _UNSAFE.sub(lambda m: "".join(f"\\x{b:02x}" for b in m.group()).encode(), data)


_UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe_text(text: str) -> str:
    """`terminal_safe` for text: every C0/C1 control but newline and tab becomes a visible \\xNN."""
    return _UNSAFE_TEXT.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class SafeTerminalWriter:
    """sys.stdout on a terminal: `print` of image-supplied names (packages, paths) cannot emit escapes.
    `.buffer` stays the raw one; `write_output` escapes on its own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return int(self._stream.write(terminal_safe_text(text)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
