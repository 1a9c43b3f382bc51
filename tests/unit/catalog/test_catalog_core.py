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
