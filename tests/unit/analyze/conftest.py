from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "harden"))
import realdeb  # noqa: E402


@pytest.fixture(scope="session")
def deb():  # type: ignore[no-untyped-def]
    """The real Debian 12 tree shape and its packages (read-only: the planner never writes)."""
    with realdeb.scratch() as d:
        yield realdeb.build(d)


@pytest.fixture
def fresh_deb():  # type: ignore[no-untyped-def]
    """A private copy, for tests that add files to the image or apply a removal."""
    with realdeb.scratch() as d:
        yield realdeb.build(d)
