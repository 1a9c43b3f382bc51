"""Registry selection, licence normalisation, canonical paths."""

from __future__ import annotations

import pytest

from honed.catalog import licenses
from honed.catalog.ownership import Canonicalizer, OwnershipIndex
from honed.catalog.registry import REGISTRY, select
from honed.errors import UserError
from honed.model import DpkgMeta, Ecosystem, Location, Package


def test_selection_strings() -> None:
    every = [c.name for c in REGISTRY]
    assert [c.name for c in select("default")] == every
    assert [c.name for c in select("os")] == ["dpkg-db", "apk-db", "rpm-db"]
    assert [c.name for c in select("python,npm")] == ["python-installed", "npm-package"]
    assert "elf-unowned" not in [c.name for c in select("-binary")]
    assert [c.name for c in select("-elf-unowned")] == [n for n in every if n != "elf-unowned"]
    assert [c.name for c in select("-binary")] == every[:6]  # go, rust and ELF all read binaries
    assert [c.name for c in select("dpkg,+java")] == ["dpkg-db", "java-archive"]
    with pytest.raises(UserError, match="unknown cataloger"):
        select("cobol")
    assert all(c.version for c in REGISTRY)
    assert len({c.name for c in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize(
    ("text", "expr"),
    [
        ("MIT", "MIT"),
        ("Expat", "MIT"),
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0-Perl"),
        ("Apache 2.0", "Apache-2.0"),
        ("(MIT OR Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ("GPL-3+ with Bison exception", "LicenseRef-GPL-3.0-or-later-with-Bison-exception"),
        ("Some Custom Thing", "LicenseRef-Some-Custom-Thing"),
    ],
)
def test_licence_normalisation(text: str, expr: str) -> None:
    assert licenses.normalize(text) == expr


def test_licence_text_is_not_an_expression() -> None:
    assert licenses.normalize("Permission is hereby granted, free of charge, " * 10) is None
    assert licenses.from_classifier("License :: OSI Approved :: MIT License") == "MIT"
    assert licenses.from_classifier("License :: OSI Approved") is None


def test_canonicalizer_resolves_directories_not_the_leaf() -> None:
    c = Canonicalizer({"/bin": "/usr/bin", "/lib": "/usr/lib", "/usr/lib/foo": "/opt/foo", "/loop": "/loop"})
    assert c.path("/bin/bash") == "/usr/bin/bash"
    assert c.path("/usr/bin/bash") == "/usr/bin/bash"
    assert c.path("/lib/foo/x") == "/opt/foo/x"  # two hops
    assert c.path("/bin") == "/bin"  # the link itself is a file-like entry
    assert c.directory("/bin") == "/usr/bin"
    assert c.path("/loop/x").endswith("/x")  # a loop ends, it does not hang


def test_shared_files_have_every_owner() -> None:
    def deb(name: str, files: tuple[str, ...]) -> Package:
        return Package(name, "1", Ecosystem.DEBIAN, f"pkg:deb/debian/{name}@1", (Location("/var/lib/dpkg/status"),),
                       meta=DpkgMeta(source=name, source_version="1", arch="all", files=files))

    a, b = deb("a", ("/usr/share/x", "/bin/a")), deb("b", ("/usr/share/x",))
    idx = OwnershipIndex([a, b], {"/bin": "/usr/bin"})
    assert idx.owners("/usr/share/x") == (a.id, b.id)
    assert idx.owners("/usr/bin/a") == (a.id,)
    assert "/usr/bin/a" in idx and "/nowhere" not in idx
    assert idx.files_of(a.id) == ("/usr/share/x", "/usr/bin/a")


def test_symlink_loops_and_undecodable_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from honed.catalog import catalog
    from honed.cli.main import main
    from honed.image.rootfs import DirRootFS

    root = tmp_path / "r"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("/loop", root / "loop")
    (root / "var/lib/dpkg/status").write_text("Package: p\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n")
    (root / "var/lib/dpkg/info/p.list").write_text("/a\n/a/x\n/loop/y\n")
    odd = os.fsencode(str(root)) + b"/app/node_modules/\xff\xfe"
    os.makedirs(odd)
    with open(odd + b"/package.json", "wb") as f:
        f.write(b'{"name": "odd", "version": "1.0.0"}')
    cat = catalog(DirRootFS(root))
    assert {p.name for p in cat.packages} == {"p", "odd"}
    cat.ownership.owners("/a/x")  # answers (loops end after 40 hops), does not hang
    cat.ownership.owners("/loop/y")
    for fmt in ("json", "cyclonedx-json", "spdx-json", "table"):
        assert main(["sbom", f"dir:{root}", "-o", f"{fmt}={tmp_path / fmt}"]) == 0
    from honed.catalog import native

    back = native.load(tmp_path / "json")  # the \udcXX escapes read back to the same names
    assert [p.id for p in back.packages] == [p.id for p in cat.packages]
