"""Session fixtures shared by every test.

Real images come from `tests.fixtures.build.ensure(name)`: built once from Debian packages (debootstrap),
cached by a hash of their recipe, and returned as a `FixtureImage` (an OCI layout on disk). Tests must treat
them as read-only: copy before changing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `registry`: a real docker-registry on 127.0.0.1; `podman`: podman with throw-away storage.
pytest_plugins = ["tests.fixtures.registry", "tests.fixtures.podman"]

# shared/ lies beside the project root (in CI too: the clone gets a copy beside it); HONED_SHARED overrides.
SHARED = Path(os.environ.get("HONED_SHARED") or Path(__file__).resolve().parents[2] / "shared")
VULNDATA = SHARED / "vulndata"
SCHEMAS = SHARED / "schemas"


@pytest.fixture(scope="session")
def vulndata() -> Path:
    assert VULNDATA.is_dir(), f"shared/vulndata not found at {VULNDATA}"
    return VULNDATA


@pytest.fixture(scope="session")
def schemas() -> Path:
    assert SCHEMAS.is_dir(), f"shared/schemas not found at {SCHEMAS}"
    return SCHEMAS


def _image(name: str):  # type: ignore[no-untyped-def]
    from tests.fixtures.build import ensure

    return ensure(name)


@pytest.fixture(scope="session")
def minimal_image():  # type: ignore[no-untyped-def]
    return _image("minimal")


@pytest.fixture(scope="session")
def flask_image():  # type: ignore[no-untyped-def]
    return _image("flask-app")


@pytest.fixture(scope="session")
def node_image():  # type: ignore[no-untyped-def]
    return _image("node-app")


@pytest.fixture(scope="session")
def nginx_image():  # type: ignore[no-untyped-def]
    return _image("nginx-site")


@pytest.fixture(scope="session")
def vulndb(vulndata: Path) -> Path:
    """Path of an advisory db built from all of shared/vulndata: built once (~8 s), then reused from
    ~/.cache/honed/test-db, keyed by the data's SHA256SUMS and the importer's source. Open it read-only."""
    import hashlib

    import honed.vuln.db as vdb

    key = hashlib.sha256((VULNDATA / "SHA256SUMS").read_bytes() + Path(vdb.__file__).read_bytes()).hexdigest()[:16]
    path = Path.home() / ".cache" / "honed" / "test-db" / f"vulndata-{key}.db"
    if not path.is_file():
        vdb.import_sources([VULNDATA], path)  # atomic: concurrent sessions never see half a db
    return path
