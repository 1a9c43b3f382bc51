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


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
