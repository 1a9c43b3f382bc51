"""The repair loop's evidence parsing and decision, on real output shapes and real Debian file lists.

data/removed-lists.json holds real dpkg .list files of Debian 12 packages (libssl3, libpython3.11-stdlib,
curl, ca-certificates, python3-yaml, gzip — gzip's list names /bin/gzip, the unmerged path) plus an npm
package's files. Output strings are the exact messages of the real programs; some are produced live.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from honed.model import DriverResult
from honed.verify.evidence import Clue, RemovedIndex, canonical, clues_from_output, clues_from_paths
from honed.verify.repair import decide

LISTS = json.loads((Path(__file__).parent / "data" / "removed-lists.json").read_text())


@pytest.fixture(scope="module")
def index() -> RemovedIndex:
    return RemovedIndex(LISTS.items())


def _fail(tail: str, cmd: str = "pytest /app/tests") -> DriverResult:
    return DriverResult("test", cmd, False, 1, 0.5, tail)


def test_canonical_merged_usr() -> None:
    assert canonical("/bin/gzip") == "/usr/bin/gzip"
    assert canonical("/lib64/ld-linux-x86-64.so.2") == "/usr/lib64/ld-linux-x86-64.so.2"
    assert canonical("/library/x") == "/library/x"


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("python3: error while loading shared libraries: libssl.so.3: cannot open shared object file: "
         "No such file or directory", Clue("library", "libssl.so.3")),
        ("E   ImportError: libcrypto.so.3: cannot open shared object file: No such file or directory",
         Clue("library", "libcrypto.so.3")),
        ("sh: 1: curl: not found", Clue("program", "curl")),
        ("bash: line 1: curl: command not found", Clue("program", "curl")),
        ("env: ‘gzip’: No such file or directory", Clue("program", "gzip")),
        ("Error: spawn gzip ENOENT", Clue("program", "gzip")),
        ("/bin/sh: 1: /usr/bin/curl: not found", Clue("path", "/usr/bin/curl")),
        ("FileNotFoundError: [Errno 2] No such file or directory: '/etc/ssl/certs/ca-certificates.crt'",
         Clue("path", "/etc/ssl/certs/ca-certificates.crt")),
        ("Error: ENOENT: no such file or directory, open '/etc/nothing'", Clue("path", "/etc/nothing")),
        ("Error: Cannot find module 'express'\nRequire stack:\n- /app/server.js", Clue("node-module", "express")),
        ("Can't locate Foo/Bar.pm in @INC (you may need to install the Foo::Bar module)", Clue("suffix", "Foo/Bar.pm")),
        ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
         Clue("package", "ca-certificates")),
    ],
)
def test_output_clues(text: str, clue: Clue) -> None:
    found = [Clue(c.kind, c.value) for c in clues_from_output(text)]
    assert clue in found


def test_live_python_and_shell_messages() -> None:
    py = subprocess.run([sys.executable, "-c", "import _ssl_gone_for_test"], capture_output=True, text=True)
    assert Clue("module", "_ssl_gone_for_test") in [Clue(c.kind, c.value) for c in clues_from_output(py.stderr)]
    sh = subprocess.run(["sh", "-c", "gzip_gone_for_test -d"], capture_output=True, text=True)
    assert Clue("program", "gzip_gone_for_test") in [Clue(c.kind, c.value) for c in clues_from_output(sh.stderr)]


def test_relative_require_is_not_a_package() -> None:
    assert clues_from_output("Error: Cannot find module './lib/routes'") == []


@pytest.mark.parametrize(
    ("clue", "package"),
    [
        (Clue("library", "libssl.so.3"), "libssl3"),
        (Clue("program", "curl"), "curl"),
        (Clue("program", "gzip"), "gzip"),  # listed as /bin/gzip
        (Clue("path", "/usr/bin/gunzip"), "gzip"),  # tracer path, merged /usr
        (Clue("module", "sqlite3"), "libpython3.11-stdlib"),  # the package dir's __init__.py
        (Clue("module", "_sqlite3"), "libpython3.11-stdlib"),  # the extension module .so
        (Clue("module", "yaml.cyaml"), "python3-yaml"),
        (Clue("node-module", "express/lib/router"), "node-express"),
        (Clue("package", "ca-certificates"), "ca-certificates"),
        (Clue("path", "/usr/lib/python3.11/sqlite3/__pycache__/dbapi2.cpython-311.pyc"), "libpython3.11-stdlib"),
        (Clue("path", "/usr/lib/x86_64-linux-gnu/engines-3"), "libssl3"),  # a directory that went entirely
    ],
)
def test_attribution(index: RemovedIndex, clue: Clue, package: str) -> None:
    assert {a.package for a in index.attribute(clue)} == {package}


def test_unrelated_clues_attribute_nothing(index: RemovedIndex) -> None:
    for clue in (Clue("library", "libz.so.1"), Clue("program", "python3"), Clue("module", "flask"),
                 Clue("path", "/app/data.db"), Clue("package", "tzdata"), Clue("path", "/usr/lib")):
        assert index.attribute(clue) == [], clue


def test_decide_prefers_output_over_tracer(index: RemovedIndex) -> None:
    drivers = [DriverResult("test", "pytest /app/tests", True, 0),
               _fail("E   ModuleNotFoundError: No module named '_sqlite3'")]
    paths = {"/usr/bin/curl": ["missing"], "/usr/lib/x86_64-linux-gnu/libssl.so.3": ["missing"],
             "/app/x": ["open"]}
    d = decide(drivers, index, paths=paths)
    assert d.restore == ("libpython3.11-stdlib",) and d.basis == "output"
    assert d.failed == ("pytest /app/tests",)
    assert "missing Python module _sqlite3" in d.reasons[0][1]


def test_decide_falls_back_to_tracer(index: RemovedIndex) -> None:
    drivers = [_fail("AssertionError: assert 500 == 200")]
    paths = {"/usr/lib/x86_64-linux-gnu/libssl.so.3": ["missing"], "/etc/ld.so.preload": ["missing"],
             "/usr/bin/curl": ["lookup"]}
    d = decide(drivers, index, paths=paths)
    assert d.restore == ("libssl3",) and d.basis == "tracer"


def test_decide_skips_already_restored_and_gives_up(index: RemovedIndex) -> None:
    drivers = [_fail("sh: 1: curl: not found", "sh -c 'curl -sf localhost'")]
    assert decide(drivers, index).restore == ("curl",)
    d = decide(drivers, index, already_restored={"curl"})
    assert not d.explained and d.failed and d.basis == ""


def test_decide_on_app_start_failure(index: RemovedIndex) -> None:
    d = decide([], index, extra_output="python3: error while loading shared libraries: libssl.so.3: cannot open "
                                     "shared object file: No such file or directory")
    assert d.restore == ("libssl3",) and d.failed == ("start the app",)


def test_nothing_failed_means_no_repair(index: RemovedIndex) -> None:
    d = decide([DriverResult("test", "t", True, 0)], index, paths={"/usr/bin/curl": ["missing"]})
    assert not d.needed and not d.restore


def test_tracer_clues_only_missing() -> None:
    assert clues_from_paths({"/a": ["open", "missing"], "/b": ["lookup"]}) == [Clue("path", "/a", "tracer")]


def test_app_crash_seen_twice_is_one_reason(index: RemovedIndex) -> None:
    tail = ("Traceback (most recent call last):\n  File \"/app/app.py\", line 3, in <module>\n    import ssl\n"
            "ImportError: libssl.so.3: cannot open shared object file: No such file or directory")
    d = decide([DriverResult("app", "python3 /app/app.py", False, 1, 0.0, tail)], index,
               extra_output=f"the app crashed (exit 1) before opening port 8000; last output: {tail}")
    assert d.failed == ("python3 /app/app.py",) and d.restore == ("libssl3",)
    assert d.reasons[0][1].count("libssl.so.3 (") == 1 and len(d.evidence) == 1


def test_module_prefers_sys_path_roots(index: RemovedIndex) -> None:
    # python3-pip vendors modules named like the stdlib's (pip/_vendor/…/json.py): "No module named 'json'"
    # means the stdlib's json, found right under a sys.path root.
    assert {a.package for a in index.attribute(Clue("module", "json"))} == {"libpython3.11-stdlib"}


def test_missing_dist_metadata_names_the_dist() -> None:
    # `__version__ = importlib.metadata.version("myapp")` in an app whose installed dist was removed: the
    # output names the dist exactly; without this clue the repair fell back to the tracer's missing site
    # dir and put back every dist below it (22 for one)
    py = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; m.version('My_App.gone')"],
                        capture_output=True, text=True)
    clues = [c for c in clues_from_output(py.stderr) if c.kind == "dist"]
    assert [c.value for c in clues] == ["My_App.gone"]
    idx = RemovedIndex([("my-app-gone", ["/usr/local/lib/python3.11/dist-packages/my_app/__init__.py"]),
                        ("other", ["/usr/local/lib/python3.11/dist-packages/other/__init__.py"])])
    assert [a.package for a in idx.attribute(clues[0])] == ["my-app-gone"]
    legacy = "pkg_resources.DistributionNotFound: The 'my-app-gone>=1.0' distribution was not found"
    assert [c.value for c in clues_from_output(legacy) if c.kind == "dist"] == ["my-app-gone"]
