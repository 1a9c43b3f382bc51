from __future__ import annotations

import shutil
from pathlib import Path

from honed.catalog import catalog
from honed.catalog.dpkg import parse_diversions, parse_source, parse_status
from honed.image.rootfs import DirRootFS
from honed.model import DpkgMeta, Ecosystem

from .conftest import DPKG, merged_usr, put


def by_name(cat):  # type: ignore[no-untyped-def]
    return {p.name: p for p in cat.packages}


def test_bookworm_packages_with_source_licence_and_files(deb_root: Path) -> None:
    cat = catalog(DirRootFS(deb_root))
    pk = by_name(cat)
    assert set(pk) == {"base-files", "bash", "dash", "libc6", "mawk", "usr-is-merged"}
    assert not cat.problems
    libc = pk["libc6"]
    assert libc.ecosystem is Ecosystem.DEBIAN
    assert isinstance(libc.meta, DpkgMeta)
    assert (libc.meta.source, libc.meta.source_version) == ("glibc", "2.36-9+deb12u14")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc"
    assert libc.meta.installed_size > 10_000_000
    assert "/lib/x86_64-linux-gnu/libc.so.6" in libc.files or "/usr/lib/x86_64-linux-gnu/libc.so.6" in libc.files
    # the .list file's layer is the package's; it is the second location
    assert [loc.path for loc in libc.locations][:2] == ["/var/lib/dpkg/status", "/var/lib/dpkg/info/libc6:amd64.list"]
    # DEP-5 copyright → SPDX ids, unknown names → LicenseRef-
    assert "GPL-3.0-or-later" in pk["bash"].licenses
    assert "LicenseRef-permissive" in pk["bash"].licenses
    assert pk["mawk"].licenses == ("CC-BY-3.0", "GPL-2.0-only", "X11")
    # conffiles are part of the package's files
    assert "/etc/bash.bashrc" in pk["bash"].meta.conffiles  # type: ignore[union-attr]
    assert "/etc/bash.bashrc" in pk["bash"].files
    assert cat.distro is not None and (cat.distro.id, cat.distro.version_id, cat.distro.codename) == (
        "debian",
        "12",
        "bookworm",
    )


def test_merged_usr_ownership_both_ways(deb_root: Path) -> None:
    cat = catalog(DirRootFS(deb_root))
    own = cat.ownership
    bash = by_name(cat)["bash"].id
    libc = by_name(cat)["libc6"].id
    # the .list says /bin/bash; a tracer says /usr/bin/bash: both find bash
    assert own.owners("/usr/bin/bash") == (bash,)
    assert own.owners("/bin/bash") == (bash,)
    assert own.owners("/lib64/ld-linux-x86-64.so.2") == (libc,)
    assert own.owners("/usr/lib64/ld-linux-x86-64.so.2") == (libc,)
    assert own.owners("/usr/lib/x86_64-linux-gnu/libc.so.6") == (libc,)
    # /bin, /lib, /lib64 are directories in the lists but symlinks in the image: not credited as files
    for d in ("/bin", "/lib", "/lib64", "/sbin"):
        assert own.owners(d) == (), d
    assert own.is_package_dir("/usr/bin") and own.is_package_dir("/bin")
    assert by_name(cat)["base-files"].id in own.dir_owners("/etc")
    # files_of is canonical
    assert "/usr/bin/bash" in own.files_of(bash)
    assert own.canonical("/bin/../lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6"


def test_diversions(deb_root: Path) -> None:
    cat = catalog(DirRootFS(deb_root))
    assert ("/bin/sh", "/bin/sh.distrib", "dash") in cat.diversions
    assert cat.ownership.owners("/usr/bin/sh") == (by_name(cat)["dash"].id,)
    assert parse_diversions((DPKG / "diversions").read_bytes())[0] == (
        "/usr/share/man/man1/sh.1.gz",
        "/usr/share/man/man1/sh.distrib.1.gz",
        "dash",
    )


def test_corrupt_status_is_a_problem_and_the_rest_is_catalogued(tmp_path: Path) -> None:
    root = tmp_path / "r"
    merged_usr(root)
    put(root, "/var/lib/dpkg/status", (DPKG / "status-corrupt").read_bytes())
    cat = catalog(DirRootFS(root))
    names = {p.name: p for p in cat.packages}
    assert set(names) == {"good-one", "good-two", "broken"}  # removed-pkg is not installed
    assert names["good-one"].meta.source == "goodsrc"  # type: ignore[union-attr]
    assert names["good-one"].meta.source_version == "0.9-2"  # type: ignore[union-attr]
    assert names["good-two"].version == "1:2.3-4"
    assert names["good-two"].meta.depends[0] == "dpkg"  # type: ignore[union-attr]
    assert names["good-two"].meta.installed_size == 12 * 1024  # type: ignore[union-attr]
    msgs = [(p.path, p.message) for p in cat.problems]
    assert any("continuation line" in m for _, m in msgs)
    assert any("not a field" in m and "line 10" in m for _, m in msgs)
    assert all(p == "/var/lib/dpkg/status" for p, _ in msgs)


def test_half_written_stanza(tmp_path: Path) -> None:
    root = tmp_path / "r"
    put(root, "/var/lib/dpkg/status", (DPKG / "status-half-written").read_bytes())
    put(root, "/var/lib/dpkg/info/complete.list", "/usr\n/usr/bin\n/usr/bin/complete\n")
    cat = catalog(DirRootFS(root))
    assert [p.name for p in cat.packages] == ["complete"]
    assert sorted(p.message for p in cat.problems) == [
        "line 6: stanza trunc has no Version field (half-written?)",
        "line 8: not a field: 'Arch'",
    ]


def test_missing_file_list_is_a_problem(tmp_path: Path) -> None:
    root = tmp_path / "r"
    put(root, "/var/lib/dpkg/status", (DPKG / "status-half-written").read_bytes())
    cat = catalog(DirRootFS(root))
    assert [p.name for p in cat.packages] == ["complete"]
    assert any("package complete: no file list" in p.message for p in cat.problems)


def test_distroless_status_d_with_md5sums(tmp_path: Path) -> None:
    root = tmp_path / "r"
    put(root, "/var/lib/dpkg/status.d/base", (DPKG / "status.d-base").read_bytes())
    put(root, "/var/lib/dpkg/status.d/base.md5sums", (DPKG / "status.d-base.md5sums").read_bytes())
    put(root, "/etc/debian_version", "12.5\n")
    put(root, "/usr/lib/os-release", "ID=debian\nVERSION_ID=12\n")
    cat = catalog(DirRootFS(root))
    (pkg,) = cat.packages
    assert (pkg.name, pkg.version) == ("base-files", "12.4+deb12u5")
    assert set(pkg.files) == {"/etc/debian_version", "/usr/lib/os-release"}
    assert cat.ownership.owners("/etc/debian_version") == (pkg.id,)


def test_parse_helpers() -> None:
    stanzas, problems = parse_status(b"Package: a\nVersion: 1\nDescription: x\n more\n .\n end\n")
    assert not problems and stanzas[0].fields["Description"] == "x\nmore\n.\nend"
    assert parse_source({"Package": "a", "Version": "1", "Source": "b"}) == ("b", "1")
    assert parse_source({"Package": "a", "Version": "1+b1", "Source": "b (1)"}) == ("b", "1")
    assert parse_source({"Package": "a", "Version": "1"}) == ("a", "1")


def test_copyright_through_doc_symlink(deb_root: Path) -> None:
    # /usr/share/doc/PKG may be a symlink to another package's doc directory
    shutil.rmtree(deb_root / "usr/share/doc/mawk")
    (deb_root / "usr/share/doc/mawk").symlink_to("bash")
    cat = catalog(DirRootFS(deb_root))
    assert "GPL-3.0-or-later" in by_name(cat)["mawk"].licenses
