"""Real Debian 12 data for the planner and executor tests (see data/make_data.py for how it was captured).

`build(tmp)` recreates the debootstrapped tree's *shape* under tmp (every path, directory, symlink and file
size, as sparse files; the dpkg database with its real content) and returns the packages parsed from its
real status and .list files, plus the real strace usage of a Python TLS/time run and a shell run.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from packageurl import PackageURL

from honed.model import Access, DpkgMeta, Ecosystem, Location, Package

DATA = Path(__file__).with_name("data") / "bookworm.json.gz"


@cache
def load() -> dict:  # type: ignore[type-arg]
    return json.loads(gzip.decompress(DATA.read_bytes()))


@dataclass
class Usage:
    """The usage-report surface the analyzer reads (honed.profile.usage.UsageReport's)."""

    accesses: dict[str, list[str]]
    image_digest: str = ""
    runs: list[dict] = field(default_factory=list)  # type: ignore[type-arg]

    def paths(self) -> dict[str, frozenset[Access]]:
        return {p: frozenset(Access(k) for k in ks) for p, ks in self.accesses.items()}


def usage(extra: dict[str, list[str]] | None = None) -> Usage:
    d = load()
    acc = dict(d["usage"])
    acc.update(extra or {})
    runs = [{"id": f"r{i}", "drivers": [{"kind": "test", "command": c}]} for i, c in enumerate(d["drivers"])]
    return Usage(acc, runs=runs)


def build_tree(root: Path) -> None:
    d = load()
    for path, kind, size, extra in d["tree"]:
        hp = root / path.lstrip("/")
        if kind == "d":
            hp.mkdir(parents=True, exist_ok=True)
        elif kind == "l":
            hp.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(extra, hp)
        else:
            hp.parent.mkdir(parents=True, exist_ok=True)
            with open(hp, "wb") as f:
                if extra is not None:
                    f.write(extra.encode())
                else:
                    f.truncate(size)
    info = root / "var/lib/dpkg/info"
    (root / "var/lib/dpkg/status").write_text(d["status"])
    for name, text in d["lists"].items():
        (info / f"{name}.list").write_text(text)


def stanzas(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line[1:]
            elif ":" in line:
                key, _, v = line.partition(":")
                fields[key] = v.strip()
        if fields.get("Package"):
            out.append(fields)
    return out


def packages(root: Path) -> list[Package]:
    d = load()
    out = []
    for f in stanzas(d["status"]):
        name, version, arch = f["Package"], f["Version"], f.get("Architecture", "")
        lst = d["lists"].get(f"{name}:{arch}") or d["lists"].get(name) or ""
        entries = [e for e in lst.splitlines() if e and e != "/."]
        conff = tuple(line.split()[0] for line in f.get("Conffiles", "").splitlines() if line.strip())
        parents = {posixpath.dirname(e) for e in entries}
        dirs = tuple(
            e
            for e in entries
            if e in parents or (root / e.lstrip("/")).is_dir() and not (root / e.lstrip("/")).is_symlink()
        )
        files = tuple(e for e in entries if e not in set(dirs))
        src = f.get("Source", name).split()[0]
        deps = tuple(
            x.strip() for k in ("Pre-Depends", "Depends") for x in f.get(k, "").split(",") if x.strip()
        )
        if "dirs" in DpkgMeta.__dataclass_fields__:  # the catalog's split of directory entries
            meta = DpkgMeta(
                source=src,
                source_version=version,
                arch=arch,
                depends=deps,
                files=files,
                conffiles=conff,
                dirs=dirs,
            )  # type: ignore[call-arg]
        else:
            meta = DpkgMeta(
                source=src,
                source_version=version,
                arch=arch,
                depends=deps,
                files=tuple(entries),
                conffiles=conff,
            )
        purl = PackageURL(
            type="deb", namespace="debian", name=name, version=version, qualifiers={"arch": arch}
        ).to_string()
        out.append(
            Package(
                name,
                version,
                Ecosystem.DEBIAN,
                purl,
                locations=(Location("/var/lib/dpkg/status"),),
                meta=meta,
            )
        )
    return sorted(out, key=lambda p: p.id)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temp dir on tmpfs when there is one: creating ~9,500 entries on a busy disk takes seconds, on
    tmpfs a third of one (the files are sparse, so they cost no memory)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="honed-realdeb-", dir=base))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def build(tmp: Path) -> tuple[Path, list[Package]]:
    root = tmp / "root"
    root.mkdir()
    build_tree(root)
    return root, packages(root)


# The fixtures of tests/unit/harden and tests/unit/analyze (each conftest imports them from here).
@pytest.fixture(scope="session")
def deb() -> Iterator[tuple[Path, list[Package]]]:
    """The real Debian 12 tree shape and its packages (read-only: the planner never writes)."""
    with scratch() as d:
        yield build(d)


@pytest.fixture
def fresh_deb() -> Iterator[tuple[Path, list[Package]]]:
    """A private copy, for tests that add files to the image or apply a removal."""
    with scratch() as d:
        yield build(d)
