"""Small helpers shared by the command modules. Import-light on purpose."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from honed.atomic import atomic_write


def write_output(text: str | bytes, dest: str | None) -> None:
    """Write to stdout, or atomically to a file (temp + rename) so a reader never sees half a report."""
    data = text.encode() if isinstance(text, str) else text
    if dest in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    atomic_write(Path(dest), data)  # type: ignore[arg-type]


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
