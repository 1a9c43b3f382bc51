"""rpm: a real SQLite rpmdb made by Debian's rpm (rpmbuild of data/rpm/hello-honed.spec, then rpm -i)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from honed.catalog import catalog
from honed.catalog.rpm import parse_header
from honed.image.rootfs import DirRootFS
from honed.model import Ecosystem, RpmMeta

from .conftest import DATA, put

pytestmark = pytest.mark.skipif(
    shutil.which("rpmbuild") is None or shutil.which("rpm") is None, reason="Debian's rpm package not installed"
)
DB = ["--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite"]


@pytest.fixture(scope="module")
def rpm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = DATA / "rpm" / "hello-honed.spec"
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", "_build_id_links none", str(spec)],
                   check=True, capture_output=True)
    (rpm_file,) = top.glob("RPMS/noarch/*.rpm")
    root = tmp_path_factory.mktemp("rpmroot")
    subprocess.run(["rpm", "--root", str(root), *DB, "--initdb"], check=True, capture_output=True)
    subprocess.run(["rpm", "--root", str(root), *DB, "-i", "--nodeps", "--noscripts", str(rpm_file)],
                   check=True, capture_output=True)
    put(root, "/etc/os-release", "ID=fedora\nVERSION_ID=40\n")
    return root


def test_sqlite_rpmdb(rpm_root: Path) -> None:
    cat = catalog(DirRootFS(rpm_root))
    (pkg,) = cat.packages
    assert pkg.ecosystem is Ecosystem.RPM
    assert (pkg.name, pkg.version) == ("hello-honed", "2:1.2.3-4")
    assert pkg.purl == "pkg:rpm/fedora/hello-honed@1.2.3-4?arch=noarch&distro=fedora-40&epoch=2"
    assert pkg.licenses == ("MIT",)
    assert isinstance(pkg.meta, RpmMeta) and pkg.meta.source_rpm == "hello-honed-1.2.3-4.src.rpm"
    assert cat.ownership.owners("/usr/bin/hello-honed") == (pkg.id,)
    assert not cat.problems


def test_corrupt_header_is_a_problem(rpm_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(rpm_root, root, symlinks=True)
    db = root / "var/lib/rpm/rpmdb.sqlite"
    con = sqlite3.connect(db)
    (blob,) = con.execute("SELECT blob FROM Packages").fetchone()
    con.execute("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", (999, bytes(blob)[:40]))  # truncated header
    con.commit()
    con.close()
    cat = catalog(DirRootFS(root))
    assert [p.name for p in cat.packages] == ["hello-honed"]
    (prob,) = cat.problems
    assert prob.path == "/var/lib/rpm/rpmdb.sqlite" and "header 999" in prob.message
    with pytest.raises(ValueError):
        parse_header(b"\x00\x00")
