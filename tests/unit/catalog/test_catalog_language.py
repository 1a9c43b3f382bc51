"""Python, npm, Java and apk catalogers on small real trees built from the named files under data/."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from honed.catalog import catalog
from honed.catalog.python import MAX_HEADER_LINE
from honed.image.rootfs import DirRootFS
from honed.model import Ecosystem, JarMeta, NpmMeta, PythonMeta

from .conftest import DATA, put

PY = DATA / "python"
NPM = DATA / "npm"
SITE = "/opt/venv/lib/python3.11/site-packages"


def names(cat, eco):  # type: ignore[no-untyped-def]
    return {p.name: p for p in cat.packages if p.ecosystem is eco}


def test_python_dist_info_record_licences(tmp_path: Path) -> None:
    root = tmp_path / "r"
    put(root, f"{SITE}/Some_Dist.Name-1.2.0.dist-info/METADATA", (PY / "METADATA-license-expression").read_bytes())
    put(root, f"{SITE}/Some_Dist.Name-1.2.0.dist-info/INSTALLER", "pip\n")
    put(root, f"{SITE}/clsdist-0.3.dist-info/METADATA", (PY / "METADATA-classifiers").read_bytes())
    put(root, "/usr/lib/python3/dist-packages/textlic-5.0.dist-info/METADATA", (PY / "METADATA-license-text").read_bytes())
    put(root, f"{SITE}/recdist-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: recdist\nVersion: 1.0\n")
    put(root, f"{SITE}/recdist-1.0.dist-info/RECORD", (PY / "RECORD-with-scripts").read_bytes())
    put(root, f"{SITE}/recdist/__init__.py", "")
    put(root, "/opt/venv/bin/recdist-cli", "#!/opt/venv/bin/python\n", mode=0o755)
    put(root, f"{SITE}/oldegg-0.9.egg-info/PKG-INFO", (PY / "PKG-INFO-egg").read_bytes())
    put(root, f"{SITE}/oldegg-0.9.egg-info/installed-files.txt", "../oldegg/__init__.py\n")
    put(root, "/usr/lib/python3/dist-packages/distutils_style-2.0.egg-info",
        "Metadata-Version: 1.0\nName: distutils-style\nVersion: 2.0\n")
    put(root, f"{SITE}/nover-1.dist-info/METADATA", (PY / "METADATA-no-version").read_bytes())
    cat = catalog(DirRootFS(root))
    py = names(cat, Ecosystem.PYPI)
    assert set(py) == {"Some_Dist.Name", "clsdist", "textlic", "recdist", "oldegg", "distutils-style"}
    some = py["Some_Dist.Name"]
    assert some.purl == "pkg:pypi/some-dist-name@1.2.0"
    assert some.licenses == ("MIT OR Apache-2.0",)
    assert isinstance(some.meta, PythonMeta) and some.meta.installer == "pip"
    assert some.meta.requires == ("idna>=2.5", "certifi")
    assert py["clsdist"].licenses == ("LicenseRef-BSD", "MIT")
    assert py["textlic"].licenses == ("Apache-2.0",)  # a licence text in License: falls back to classifiers
    assert py["oldegg"].licenses == ("GPL-2.0-or-later",)
    rec = py["recdist"]
    assert "/opt/venv/bin/recdist-cli" in rec.files  # RECORD's ../../../bin path, normalised
    assert cat.ownership.owners("/opt/venv/bin/recdist-cli") == (rec.id,)
    assert cat.ownership.owners(f"{SITE}/recdist/__init__.py") == (rec.id,)
    assert cat.ownership.owners(f"{SITE}/oldegg/__init__.py") == (py["oldegg"].id,)
    assert [p.path for p in cat.problems] == [f"{SITE}/nover-1.dist-info/METADATA"]


def test_python_ten_megabyte_header_line_is_a_problem(tmp_path: Path) -> None:
    # edge case "METADATA with a 10 MB header line" (generated: 10 MB does not belong in the repository)
    root = tmp_path / "r"
    huge = b"Metadata-Version: 2.1\nName: huge\nVersion: 1.0\nSummary: " + b"x" * (10 << 20) + b"\n"
    put(root, f"{SITE}/huge-1.0.dist-info/METADATA", huge)
    put(root, f"{SITE}/fine-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fine\nVersion: 1.0\n")
    cat = catalog(DirRootFS(root))
    assert set(names(cat, Ecosystem.PYPI)) == {"huge", "fine"}
    (prob,) = cat.problems
    assert prob.path.endswith("huge-1.0.dist-info/METADATA")
    assert f"limit {MAX_HEADER_LINE}" in prob.message


def test_npm_nested_copies_scoped_invalid(tmp_path: Path) -> None:
    root = tmp_path / "r"
    nm = "/app/node_modules"
    put(root, "/app/package.json", '{"name": "myapp", "version": "1.0.0", "private": true}')
    put(root, "/app/server.js", "")
    put(root, f"{nm}/lodash/package.json", '{"name": "lodash", "version": "4.17.20", "license": "MIT"}')
    put(root, f"{nm}/lodash/lodash.js", "")
    put(root, f"{nm}/lodash/fp/package.json", (NPM / "subdir-no-name-package.json").read_bytes())
    put(root, f"{nm}/a/package.json", '{"name": "a", "version": "1.0.0"}')
    put(root, f"{nm}/a/node_modules/lodash/package.json", '{"name": "lodash", "version": "3.10.1"}')
    put(root, f"{nm}/a/node_modules/lodash/index.js", "")
    put(root, f"{nm}/@scope/thing/package.json", (NPM / "scoped-package.json").read_bytes())
    put(root, f"{nm}/oldlic/package.json", (NPM / "legacy-licenses-package.json").read_bytes())
    put(root, f"{nm}/broken/package.json", (NPM / "invalid-package.json").read_bytes())
    put(root, f"{nm}/lodash/test/fixtures/package.json", (NPM / "invalid-package.json").read_bytes())
    cat = catalog(DirRootFS(root))
    npm = [p for p in cat.packages if p.ecosystem is Ecosystem.NPM]
    assert sorted((p.name, p.version) for p in npm) == [
        ("@scope/thing", "2.0.1"),
        ("a", "1.0.0"),
        ("lodash", "3.10.1"),
        ("lodash", "4.17.20"),
        ("myapp", "1.0.0"),
        ("oldlic", "0.1.0"),
    ]
    by = {(p.name, p.version): p for p in npm}
    assert by[("@scope/thing", "2.0.1")].purl == "pkg:npm/%40scope/thing@2.0.1"
    assert by[("@scope/thing", "2.0.1")].licenses == ("(MIT OR Apache-2.0)",)
    assert by[("oldlic", "0.1.0")].licenses == ("LicenseRef-BSD", "MIT")
    # only the package-root position's broken package.json is a problem; the test fixture's is not
    assert [p.path for p in cat.problems] == [f"{nm}/broken/package.json"]
    # nested copy owns its own files; the outer package owns its subdirectories
    old, new = by[("lodash", "3.10.1")], by[("lodash", "4.17.20")]
    assert cat.ownership.owners(f"{nm}/a/node_modules/lodash/index.js") == (old.id,)
    assert cat.ownership.owners(f"{nm}/lodash/fp/package.json") == (new.id,)
    assert cat.ownership.owners("/app/server.js") == (by[("myapp", "1.0.0")].id,)
    assert f"{nm}/lodash/lodash.js" not in by[("myapp", "1.0.0")].files
    assert isinstance(old.meta, NpmMeta) and old.meta.package_dir == f"{nm}/a/node_modules/lodash"


def _jar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, d in entries.items():
            z.writestr(n, d)
    return buf.getvalue()


def test_java_archives_nested_and_not_a_zip(tmp_path: Path) -> None:
    root = tmp_path / "r"
    inner = _jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nImplementation-Version: 2.14.1\r\n",
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": b"groupId=org.apache.logging.log4j\n"
            b"artifactId=log4j-core\nversion=2.14.1\n",
        }
    )
    shaded = _jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nImplementation-Title: app\nImplementation-Version: 0.1\n",
            "META-INF/maven/com.google.guava/guava/pom.properties": b"groupId=com.google.guava\nartifactId=guava\n"
            b"version=31.1-jre\n",
        }
    )
    war = _jar({"WEB-INF/lib/log4j-core-2.14.1.jar": inner, "index.html": b"<html/>"})
    put(root, "/opt/app/shaded-app-0.1.jar", shaded)
    put(root, "/opt/app/web.war", war)
    put(root, "/opt/app/bad.jar", (DATA / "java" / "not-a-zip.jar").read_bytes())
    cat = catalog(DirRootFS(root))
    mv = {(p.name, p.version): p for p in cat.packages if p.ecosystem is Ecosystem.MAVEN}
    assert set(mv) == {("shaded-app", "0.1"), ("guava", "31.1-jre"), ("web", ""), ("log4j-core", "2.14.1")}
    log4j = mv[("log4j-core", "2.14.1")]
    assert log4j.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert isinstance(log4j.meta, JarMeta)
    assert log4j.meta.archive_path == "/opt/app/web.war!/WEB-INF/lib/log4j-core-2.14.1.jar"
    assert log4j.id in cat.ownership.owners("/opt/app/web.war")
    assert len(mv[("shaded-app", "0.1")].meta.sha1) == 40  # type: ignore[union-attr]
    (prob,) = cat.problems
    assert prob.path == "/opt/app/bad.jar" and "not a valid zip" in prob.message


def test_apk_installed(tmp_path: Path) -> None:
    root = tmp_path / "r"
    put(root, "/lib/apk/db/installed", (DATA / "apk" / "installed").read_bytes())
    put(root, "/etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")
    cat = catalog(DirRootFS(root))
    apk = {p.name: p for p in cat.packages}
    assert set(apk) == {"musl", "busybox"}
    assert apk["busybox"].purl == "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.19.1"
    assert apk["musl"].licenses == ("MIT",)
    assert cat.ownership.owners("/bin/busybox") == (apk["busybox"].id,)
    assert {p.message.split(":")[0] for p in cat.problems} == {"line 28", "line 29"}
