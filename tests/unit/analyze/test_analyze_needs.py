"""Packages kept whole without evidence keep what their programs load (real Debian 12 tree + real ELF)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import realdeb

from honed.analyze import AnalyzeOptions, analyze
from honed.analyze.policy import Policy
from honed.harden.executor import compute_removal
from honed.image.rootfs import DirRootFS


def _real_bash(root: Path) -> None:
    """The tree's files are sparse: put the real Debian 12 bash (an ELF needing libtinfo.so.6) in."""
    bash = root / "usr/bin/bash"
    shutil.copyfile("/usr/bin/bash", bash)
    bash.chmod(0o755)


def _removed(root: Path, pkgs: list, policy: Policy) -> set[str]:  # type: ignore[type-arg]
    a = analyze(pkgs, [], realdeb.Usage({}), AnalyzeOptions(rootfs=DirRootFS(root), policy=policy))
    return {d.package.name for d in a.removed}


@pytest.mark.skipif(not Path("/usr/bin/bash").is_file(), reason="needs a host bash (the real ELF)")
def test_a_program_kept_without_evidence_keeps_its_libraries(fresh_deb):  # type: ignore[no-untyped-def]
    # `--preset standard` kept bash (no CVE) and removed libtinfo6 (a CVE): bash then died on start with
    # "libtinfo.so.6: cannot open shared object file". The same holds for --keep and the default keep list.
    root, pkgs = fresh_deb
    _real_bash(root)
    assert "libtinfo6" not in _removed(root, pkgs, Policy(keep=("bash",)))
    assert {"bash", "libtinfo6"} <= _removed(root, pkgs, Policy())  # nothing keeps bash: both go


def test_a_script_of_a_package_kept_for_its_data_keeps_no_interpreter(fresh_deb):  # type: ignore[no-untyped-def]
    # libc-bin is kept by default for the C.UTF-8 locale and ld.so.cache; its `ldd` script must not keep bash
    root, pkgs = fresh_deb
    ldd = root / "usr/bin/ldd"
    ldd.write_text("#!/bin/bash\necho ldd\n")
    ldd.chmod(0o755)
    assert "bash" in _removed(root, pkgs, Policy())
    assert "bash" not in _removed(root, pkgs, Policy(keep=("libc-bin",)))  # kept as a program: it must run


@pytest.mark.skipif(not Path("/usr/bin/bash").is_file(), reason="needs a host bash (the real ELF)")
def test_files_mode_keeps_what_a_whole_kept_program_needs_from_a_used_package(fresh_deb):  # type: ignore[no-untyped-def]
    # libtinfo6 used only through libtic: files mode trimmed libtinfo.so.6, which the kept bash needs
    root, pkgs = fresh_deb
    _real_bash(root)
    fs = DirRootFS(root)
    usage = realdeb.Usage({"/usr/lib/x86_64-linux-gnu/libtic.so.6.4": ["map"]})
    a = analyze(pkgs, [], usage, AnalyzeOptions(rootfs=fs, policy=Policy(keep=("bash",))))
    drop = set(compute_removal(fs, a, mode="files").drop)
    assert "/usr/lib/x86_64-linux-gnu/libtinfo.so.6.4" not in drop


@pytest.mark.skipif(not Path("/usr/bin/bash").is_file(), reason="needs a host bash (the real ELF)")
def test_an_unowned_program_keeps_its_libraries(fresh_deb):  # type: ignore[no-untyped-def]
    # a binary COPYed into the image (owned by no package, so never removed) that the tests did not run, e.g.
    # the same image's migration job: its libraries must stay or it cannot load
    root, pkgs = fresh_deb
    tool = root / "usr/local/bin/mytool"
    tool.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/usr/bin/bash", tool)  # a real Debian 12 ELF needing libtinfo.so.6
    tool.chmod(0o755)
    (root / "usr/local/bin/helper.sh").write_text("#!/usr/bin/perl\n")  # an app's script keeps no perl
    (root / "usr/local/bin/helper.sh").chmod(0o755)
    removed = _removed(root, pkgs, Policy())
    assert "libtinfo6" not in removed and "bash" in removed and "perl-base" in removed


def test_an_env_shebang_keeps_the_program_env_runs(fresh_deb):  # type: ignore[no-untyped-def]
    root, pkgs = fresh_deb
    script = root / "usr/bin/which.debianutils"
    script.write_text("#!/usr/bin/env -S perl -w\nprint 1;\n")
    script.chmod(0o755)
    removed = _removed(root, pkgs, Policy(keep=("debianutils",)))
    assert "perl-base" not in removed and "coreutils" not in removed  # perl via PATH, and env itself


@pytest.mark.skipif(not Path("/usr/bin/bash").is_file(), reason="needs a host bash (the real ELF)")
def test_a_used_package_keeps_the_libraries_of_programs_the_tests_did_not_run(fresh_deb):  # type: ignore[no-untyped-def]
    # coreutils stayed because `sleep` ran, libselinux1 went, and `id` in the hardened image died on start.
    # Here bash is used only through a data file; its /usr/bin/bash stays, so libtinfo6 must stay with it.
    root, pkgs = fresh_deb
    _real_bash(root)
    fs = DirRootFS(root)
    used = realdeb.Usage({"/etc/bash.bashrc": ["open"]})
    a = analyze(pkgs, [], used, AnalyzeOptions(rootfs=fs, policy=Policy()))
    removed = {d.package.name for d in a.removed}
    assert "bash" not in removed and "libtinfo6" not in removed
    unused = analyze(pkgs, [], realdeb.Usage({}), AnalyzeOptions(rootfs=fs, policy=Policy()))
    assert {"bash", "libtinfo6"} <= {d.package.name for d in unused.removed}  # the rule follows use only
