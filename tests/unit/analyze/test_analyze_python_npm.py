"""Python and npm packages on top of the real Debian tree: startup hooks, metadata reads, containment."""

from __future__ import annotations

from pathlib import Path

import pytest
import realdeb

from honed.analyze import AnalyzeOptions, analyze
from honed.analyze.policy import Policy
from honed.harden.executor import compute_removal
from honed.image.rootfs import DirRootFS
from honed.model import DpkgMeta, Ecosystem, Location, NpmMeta, Package, PythonMeta

SITE = "/usr/local/lib/python3.11/dist-packages"
PTH = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
    "enabled and __import__('_distutils_hack').add_shim(); \n"
)


def put(root: Path, path: str, text: str = "") -> str:
    hp = root / path.lstrip("/")
    hp.parent.mkdir(parents=True, exist_ok=True)
    hp.write_text(text)
    return path


def dist(root: Path, name: str, version: str, files: dict[str, str]) -> Package:
    di = f"{SITE}/{name}-{version}.dist-info"
    paths = [put(root, f"{SITE}/{rel}", text) for rel, text in files.items()]
    paths += [
        put(root, f"{di}/METADATA", f"Name: {name}\n"),
        put(root, f"{di}/entry_points.txt", "[x]\n"),
        put(root, f"{di}/RECORD", ""),
    ]
    return Package(
        name,
        version,
        Ecosystem.PYPI,
        f"pkg:pypi/{name}@{version}",
        (Location(f"{di}/METADATA"),),
        meta=PythonMeta(dist_dir=di, files=tuple(paths)),
    )


def test_pth_hook_and_metadata_reads_do_not_keep_a_dist(fresh_deb):  # type: ignore[no-untyped-def]
    root, pkgs = fresh_deb
    st = dist(
        root,
        "setuptools",
        "66.1.1",
        {
            "distutils-precedence.pth": PTH,
            "_distutils_hack/__init__.py": "def add_shim(): pass\n",
            "_distutils_hack/__pycache__/__init__.cpython-311.pyc": "",
            "setuptools/__init__.py": "",
        },
    )
    fl = dist(
        root, "flask", "2.2.2", {"flask/__init__.py": "", "flask/__pycache__/__init__.cpython-311.pyc": ""}
    )
    usage = realdeb.Usage(
        {
            f"{SITE}/distutils-precedence.pth": ["open"],  # site.py reads every .pth at start-up
            f"{SITE}/_distutils_hack/__pycache__/__init__.cpython-311.pyc": ["open"],  # the hook's import
            f"{SITE}/_distutils_hack/__init__.py": ["lookup"],
            f"{SITE}/setuptools-66.1.1.dist-info/entry_points.txt": ["open"],  # pytest reads every dist's
            f"{SITE}/flask/__pycache__/__init__.cpython-311.pyc": ["open"],
        },
        runs=[{"drivers": [{"command": "pytest /app/tests"}]}],
    )
    fs = DirRootFS(root)
    a = analyze([*pkgs, st, fl], [], usage, AnalyzeOptions(rootfs=fs, policy=Policy()))
    removed = {d.package.name: d for d in a.removed}
    assert "setuptools" in removed and "flask" not in removed
    assert "startup hook" in removed["setuptools"].evidence
    plan = compute_removal(fs, a)
    d = set(plan.drop)
    # the whole dist goes through its files: the hook, its module, the bytecode, the dist-info dir
    for p in (
        "distutils-precedence.pth",
        "_distutils_hack/__init__.py",
        "_distutils_hack/__pycache__/__init__.cpython-311.pyc",
        "_distutils_hack",
        "setuptools-66.1.1.dist-info/RECORD",
        "setuptools-66.1.1.dist-info",
        "setuptools",
    ):
        assert f"{SITE}/{p}" in d, p
    assert not any(p.startswith(f"{SITE}/flask") for p in d)


FINDER = "import __editable___svc_1_0_finder; __editable___svc_1_0_finder.install()\n"


@pytest.mark.parametrize("form", ["path", "finder"])
def test_editable_install_pth_keeps_its_dist_when_its_sources_are_used(fresh_deb, form):  # type: ignore[no-untyped-def]
    # `pip install -e` (setuptools 66, as pip wrote it in a bookworm image) and Poetry's project install: a
    # dist of metadata plus a .pth naming the source dir (or importing a finder mapping to it). Removing the
    # dist removed the .pth and `import svc` failed in the hardened image.
    root, pkgs = fresh_deb
    if form == "path":
        svc = dist(root, "svc", "1.0", {"__editable__.svc-1.0.pth": "/srv/svc/src\n"})
    else:
        svc = dist(root, "svc", "1.0", {
            "__editable__.svc-1.0.pth": FINDER,
            "__editable___svc_1_0_finder.py": "MAPPING = {'svc': '/srv/svc/src/svc'}\nNAMESPACES = {}\n",
        })
    unused = dist(root, "other", "2.0", {"__editable__.other-2.0.pth": "/srv/other/src\n"})
    put(root, "/srv/svc/src/svc/__init__.py", "")
    put(root, "/srv/svc/src/svc/__pycache__/__init__.cpython-311.pyc", "")
    put(root, "/srv/other/src/other/__init__.py", "")
    usage = realdeb.Usage({
        f"{SITE}/__editable__.svc-1.0.pth": ["open"],  # site.py reads every .pth at start-up
        f"{SITE}/__editable__.other-2.0.pth": ["open"],
        "/srv/svc/src/svc/__pycache__/__init__.cpython-311.pyc": ["open"],
        "/srv/svc/src/svc/__init__.py": ["lookup"],
    })
    a = analyze([*pkgs, svc, unused], [], usage, AnalyzeOptions(rootfs=DirRootFS(root), policy=Policy()))
    removed = {d.package.name for d in a.removed}
    assert "svc" not in removed and "other" in removed


def test_dist_inside_a_deb_moves_with_it(fresh_deb):  # type: ignore[no-untyped-def]
    root, pkgs = fresh_deb
    base = "/usr/lib/python3/dist-packages"
    files = [
        put(root, f"{base}/yaml/__init__.py"),
        put(root, f"{base}/PyYAML-6.0.egg-info/PKG-INFO", "Name: PyYAML\n"),
    ]
    deb = Package(
        "python3-yaml",
        "6.0-3",
        Ecosystem.DEBIAN,
        "pkg:deb/debian/python3-yaml@6.0-3",
        (Location("/var/lib/dpkg/status"),),
        meta=DpkgMeta("pyyaml", "6.0-3", "amd64", files=(*files, f"{base}/PyYAML-6.0.egg-info")),
    )
    py = Package(
        "PyYAML",
        "6.0",
        Ecosystem.PYPI,
        "pkg:pypi/pyyaml@6.0",
        (Location(f"{base}/PyYAML-6.0.egg-info/PKG-INFO"),),
        meta=PythonMeta(dist_dir=f"{base}/PyYAML-6.0.egg-info", files=tuple(files)),
    )
    fs = DirRootFS(root)
    used = realdeb.Usage({f"{base}/yaml/__init__.py": ["open"]})
    a = analyze([*pkgs, deb, py], [], used, AnalyzeOptions(rootfs=fs, policy=Policy()))
    k = {d.package.name: d for d in a.kept}
    assert "python3-yaml" in k and "PyYAML" in k
    assert k["PyYAML"].reasons[0].kind in ("used", "contained-in")
    a = analyze([*pkgs, deb, py], [], realdeb.Usage({}), AnalyzeOptions(rootfs=fs, policy=Policy()))
    assert {"python3-yaml", "PyYAML"} <= {d.package.name for d in a.removed}
    assert f"{base}/PyYAML-6.0.egg-info" in compute_removal(fs, a).drop


def test_npm_nested_and_lockfile(fresh_deb):  # type: ignore[no-untyped-def]
    import json

    root, pkgs = fresh_deb
    nm = "/app/node_modules"

    def npm(name: str, d: str) -> Package:
        put(root, f"{d}/package.json", json.dumps({"name": name, "version": "1.0.0"}))
        put(root, f"{d}/index.js", "module.exports = 1\n")
        return Package(
            name,
            "1.0.0",
            Ecosystem.NPM,
            f"pkg:npm/{name}@1.0.0",
            (Location(f"{d}/package.json"),),
            meta=NpmMeta(package_dir=d),
        )

    outer = npm("express", f"{nm}/express")
    inner = npm("debug", f"{nm}/express/node_modules/debug")
    lone = npm("lodash", f"{nm}/lodash")
    (root / "app/node_modules/.bin").mkdir()
    (root / "app/node_modules/.bin/lodash").symlink_to("../lodash/index.js")
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "node_modules/express": {"version": "1.0.0"},
            "node_modules/express/node_modules/debug": {"version": "1.0.0"},
            "node_modules/lodash": {"version": "1.0.0"},
        },
    }
    put(root, f"{nm}/.package-lock.json", json.dumps(lock, indent=2) + "\n")
    fs = DirRootFS(root)
    used = realdeb.Usage(
        {f"{nm}/express/node_modules/debug/index.js": ["open"], f"{nm}/lodash/package.json": ["open"]}
    )  # a package.json read is metadata only
    a = analyze([*pkgs, outer, inner, lone], [], used, AnalyzeOptions(rootfs=fs, policy=Policy()))
    k = {d.package.name: d for d in a.kept}
    assert "debug" in k and "express" in k and k["express"].reasons[0].kind == "contains"
    assert "lodash" in {d.package.name for d in a.removed}
    plan = compute_removal(fs, a)
    assert f"{nm}/lodash" in plan.drop and f"{nm}/.bin/lodash" in plan.drop
    assert not any(p.startswith(f"{nm}/express") for p in plan.drop)
    newlock = json.loads(plan.replace[f"{nm}/.package-lock.json"])
    assert sorted(newlock["packages"]) == ["node_modules/express", "node_modules/express/node_modules/debug"]


def test_files_mode_keeps_rarely_used_data_of_a_used_dist(fresh_deb):  # type: ignore[no-untyped-def]
    # requests' CA bundle (certifi/cacert.pem) is read on the first real HTTPS call only, which test suites
    # mock: files mode trimmed it and the hardened app failed with "Could not find a suitable TLS CA
    # certificate bundle" although verification passed. Same for pytz's zoneinfo.
    root, pkgs = fresh_deb
    ce = dist(root, "certifi", "2022.9.24", {
        "certifi/__init__.py": "from .core import where\n",
        "certifi/__pycache__/__init__.cpython-311.pyc": "",
        "certifi/core.py": "",
        "certifi/cacert.pem": "-----BEGIN CERTIFICATE-----\n",
        "pytz/zoneinfo/Europe/Paris": "TZif",
    })
    usage = realdeb.Usage({f"{SITE}/certifi/__pycache__/__init__.cpython-311.pyc": ["open"]})
    fs = DirRootFS(root)
    a = analyze([*pkgs, ce], [], usage, AnalyzeOptions(rootfs=fs, policy=Policy()))
    drop = set(compute_removal(fs, a, mode="files").drop)
    assert f"{SITE}/certifi/core.py" in drop  # files mode still trims what was never touched
    assert f"{SITE}/certifi/cacert.pem" not in drop and f"{SITE}/pytz/zoneinfo/Europe/Paris" not in drop


def test_a_dist_whose_metadata_is_asked_for_by_name_stays(fresh_deb):  # type: ignore[no-untyped-def]
    # `python -m myapp` from its source dir imports /srv/myapp, and `importlib.metadata.version("myapp")`
    # reads the installed copy's METADATA: removing that dist broke every start (PackageNotFoundError).
    # Reading (nearly) every dist's metadata is an enumeration (pkg_resources, pip list) and keeps nothing.
    root, pkgs = fresh_deb
    dists = [dist(root, n, "1.0", {f"{n}/__init__.py": ""}) for n in ("myapp", "other", "third")]
    fs = DirRootFS(root)

    def removed(read: tuple[str, ...]) -> set[str]:
        usage = realdeb.Usage({f"{SITE}/{n}-1.0.dist-info/METADATA": ["open"] for n in read})
        a = analyze([*pkgs, *dists], [], usage, AnalyzeOptions(rootfs=fs, policy=Policy()))
        return {d.package.name for d in a.removed} & {"myapp", "other", "third"}

    assert removed(("myapp",)) == {"other", "third"}
    assert removed(("myapp", "other", "third")) == {"myapp", "other", "third"}


def test_files_the_image_env_names_are_used(fresh_deb):  # type: ignore[no-untyped-def]
    # `ENV SSL_CERT_FILE=…/certifi/cacert.pem`: the bundle is read on the first real HTTPS call, which the
    # app's tests mock; the certifi dist looked unused and went, and production HTTPS failed.
    root, pkgs = fresh_deb
    ce = dist(root, "certifi", "2022.9.24", {"certifi/__init__.py": "", "certifi/cacert.pem": "PEM\n"})
    other = dist(root, "other", "1.0", {"other/__init__.py": ""})
    env = [f"SSL_CERT_FILE={SITE}/certifi/cacert.pem", "PATH=/usr/local/bin:/usr/bin:/bin",
           f"PYTHONPATH={SITE}/other", "MISSING=/nowhere/file"]
    opts = AnalyzeOptions(rootfs=DirRootFS(root), policy=Policy(), image_config={"config": {"Env": env}})
    a = analyze([*pkgs, ce, other], [], realdeb.Usage({}), opts)
    removed = {d.package.name for d in a.removed}
    assert "certifi" not in removed and "other" in removed  # a directory named by Env is no evidence
