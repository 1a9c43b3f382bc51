"""The real Debian 12 tree fixtures `deb` and `fresh_deb`, defined once in tests/unit/harden/realdeb.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "harden"))
from realdeb import deb, fresh_deb  # noqa: E402, F401
