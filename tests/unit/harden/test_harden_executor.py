"""The executor on the real Debian 12 tree shape: what goes, what stays, and the rewritten databases."""

from __future__ import annotations

import os

import realdeb
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.analyze import AnalyzeOptions, analyze
from honed.analyze.ownership import Ownership
from honed.analyze.policy import Policy
from honed.harden import removal_log
from honed.harden.executor import compute_removal, filter_stanzas
from honed.image.rootfs import DirRootFS

BARE = Policy(protected=(), default_keep=())


def plan_for(deb, accesses=None, policy=None, mode=None):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    u = (
        realdeb.usage()
        if accesses is None
        else realdeb.Usage(accesses, runs=[{"drivers": [{"command": "t"}]}])
    )
    fs = DirRootFS(root)
    a = analyze(pkgs, [], u, AnalyzeOptions(rootfs=fs, policy=policy or Policy()))
    return fs, a, compute_removal(fs, a, mode=mode)


def apply(root, plan):  # type: ignore[no-untyped-def]
    for p in reversed(plan.drop):  # children sort after their directory
        hp = root / p.lstrip("/")
        if hp.is_dir() and not hp.is_symlink():
            os.rmdir(hp)
        else:
            os.unlink(hp)
    for p, data in plan.replace.items():
        (root / p.lstrip("/")).write_bytes(data)


def test_kept_packages_lose_nothing_removed_ones_leave_nothing(fresh_deb):  # type: ignore[no-untyped-def]
    root, pkgs = fresh_deb
    fs, a, plan = plan_for(fresh_deb)
    own = Ownership(pkgs, fs)
    before = {i.path for i in fs.walk("/")}
    apply(root, plan)
    after = {i.path for i in DirRootFS(root).walk("/")}
    assert after == before - set(plan.drop)  # exactly the original minus the dropped paths
    kept_ids = {d.id for d in a.kept}
    for pid in kept_ids:
        for f in own.package_files(pid):
            if f in before:
                assert f in after, (pid, f)
    for d in a.removed:  # every exclusively-owned, existing file of a removed package is gone
        for f in own.package_files(d.id):
            if (
                f in before
                and f not in own.dirs
                and all(o not in kept_ids for o in own.owners(f, canonical=True))
            ):
                assert f not in after, (d.package.name, f)
    status = (root / "var/lib/dpkg/status").read_text()
    names = {s["Package"] for s in realdeb.stanzas(status)}
    assert names == {d.package.name for d in a.kept}


def test_merged_usr_symlinks_and_already_empty_dirs_stay(deb):  # type: ignore[no-untyped-def]
    root, _ = deb
    fs, a, plan = plan_for(deb)
    assert "dpkg" in {d.package.name for d in a.removed}
    for p in ("/bin", "/lib", "/lib64", "/sbin", "/usr/bin", "/tmp"):
        assert p not in plan.drop
    assert "/var/lib/dpkg/updates" not in plan.drop  # dpkg's, empty in the original image
    assert "/etc/alternatives" in plan.drop  # dpkg's, emptied by the removal


def test_dpkg_info_files_go_by_exact_name(deb):  # type: ignore[no-untyped-def]
    # removing python3 must not take python3.11-minimal's info files (same prefix)
    fs, a, plan = plan_for(deb)
    removed = {d.package.name for d in a.removed}
    assert "python3" in removed and "python3.11-minimal" not in removed
    assert "/var/lib/dpkg/info/python3.list" in plan.drop
    assert "/var/lib/dpkg/info/python3.md5sums" in plan.drop
    assert not any(p.startswith("/var/lib/dpkg/info/python3.11-minimal") for p in plan.drop)
    assert "/var/lib/dpkg/info/libcurl4:amd64.list" in plan.drop
    assert "/var/lib/dpkg/status" not in plan.drop  # rewritten, never deleted
    assert "/var/lib/dpkg/status" in plan.replace


def test_conffiles_and_generated_files_go(deb):  # type: ignore[no-untyped-def]
    fs, a, plan = plan_for(deb, {}, BARE)
    d = set(plan.drop)
    assert "/etc/debconf.conf" in d  # a conffile of debconf
    assert "/etc/ssl/certs/ca-certificates.crt" in d  # the CA bundle update-ca-certificates made
    assert "/etc/ssl/certs/002c0b4f.0" in d  # hash link → .pem link → removed cert
    assert "/etc/alternatives/awk" in d and "/usr/bin/awk" in d  # unowned links into mawk
    assert "/etc/ld.so.cache" in d  # libc-bin generated it


def test_bytecode_of_removed_sources_goes(deb):  # type: ignore[no-untyped-def]
    fs, a, plan = plan_for(deb, {"/usr/bin/python3.11": ["exec"]}, BARE)
    assert "libpython3.11-stdlib" in {d.package.name for d in a.removed}
    d = set(plan.drop)
    assert "/usr/lib/python3.11/json/__pycache__/decoder.cpython-311.pyc" in d
    assert "/usr/lib/python3.11/json/__pycache__" in d


def test_shared_file_stays_while_an_owner_stays(deb):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    from honed.model import DpkgMeta, Ecosystem, Location, Package

    sharer = Package(
        "sharer",
        "1",
        Ecosystem.DEBIAN,
        "pkg:deb/debian/sharer@1",
        (Location("/var/lib/dpkg/status"),),
        meta=DpkgMeta("sharer", "1", "amd64", files=("/usr/bin/curl",)),
    )
    fs = DirRootFS(root)
    u = realdeb.Usage({}, runs=[])
    a = analyze([*pkgs, sharer], [], u, AnalyzeOptions(rootfs=fs, policy=Policy(keep=("sharer",))))
    assert "curl" in {d.package.name for d in a.removed}
    plan = compute_removal(fs, a)
    assert "/usr/bin/curl" not in plan.drop
    assert "/usr/share/doc/curl/copyright" in plan.drop


def test_diversions_of_a_removed_package_are_rewritten(deb):  # type: ignore[no-untyped-def]
    fs, a, plan = plan_for(deb, {}, BARE)
    assert "dash" in {d.package.name for d in a.removed}
    assert plan.replace["/var/lib/dpkg/diversions"] == b""


def test_files_mode_trims_untouched_files_of_used_packages(deb):  # type: ignore[no-untyped-def]
    fs, a, plan = plan_for(deb, None, None, mode="files")
    coreutils = next(d for d in a.kept if d.package.name == "coreutils")
    trimmed = plan.trimmed[coreutils.id].files
    assert "/usr/bin/ls" in trimmed and "/usr/bin/date" not in trimmed and "/usr/bin/cat" not in trimmed
    assert not any(p.startswith("/usr/share/doc/") for p in trimmed)  # metadata stays for scanners
    libc = next(d for d in a.kept if d.package.name == "libc6")
    assert libc.id not in plan.trimmed  # protected packages keep every file
    log = removal_log(a, plan)
    assert log["mode"] == "files" and log["trimmed"]


def test_removal_log_lists_files_bytes_and_evidence(deb):  # type: ignore[no-untyped-def]
    fs, a, plan = plan_for(deb)
    log = removal_log(a, plan)
    curl = next(e for e in log["removed"] if e["name"] == "curl")
    assert "/usr/bin/curl" in curl["files"] and curl["bytes"] > 100_000
    assert curl["evidence"].startswith(
        "no file of this package was opened, executed or looked up in 2 runs of"
    )
    assert log["summary"]["bytes_removed"] == plan.dropped_bytes
    assert any(f.startswith("dpkg (") for f in log["summary"]["flagged_removals"])


def test_same_input_same_plan(deb):  # type: ignore[no-untyped-def]
    p1 = plan_for(deb)[2]
    p2 = plan_for(deb)[2]
    assert p1 == p2


STANZA = st.builds(
    lambda n, v, extra: (
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n{extra}"
    ),
    st.from_regex(r"[a-z][a-z0-9+.-]{1,10}", fullmatch=True),
    st.from_regex(r"[0-9]\.[0-9]", fullmatch=True),
    st.sampled_from(["", "Description: x\n more\n .\n", "Depends: libc6 (>= 2)\n"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(STANZA, min_size=1, max_size=6, unique_by=lambda s: s.split("\n")[0]), st.data())
def test_filter_stanzas_keeps_other_bytes_exactly(stanzas, data):  # type: ignore[no-untyped-def]
    text = "\n".join(stanzas)
    drop_i = data.draw(st.sets(st.integers(0, len(stanzas) - 1)))
    drop = {(s.split("\n")[0].split(": ")[1], "amd64") for i, s in enumerate(stanzas) if i in drop_i}
    new, n = filter_stanzas(text.encode(), drop)
    assert n == len(drop_i)
    expect = "\n".join(s for i, s in enumerate(stanzas) if i not in drop_i)
    assert new.decode() == expect


def test_filter_stanzas_real_status(deb):  # type: ignore[no-untyped-def]
    root, _ = deb
    data = (root / "var/lib/dpkg/status").read_bytes()
    new, n = filter_stanzas(data, {("curl", "amd64"), ("libcurl4", "amd64")})
    assert n == 2
    assert b"Package: curl\n" not in new and b"Package: libcurl4\n" not in new
    assert len(data) - len(new) > 1000
    assert new.count(b"\nPackage: ") + 1 == data.count(b"\nPackage: ") + 1 - 2


def test_directory_the_app_used_stays_when_emptied(deb):  # type: ignore[no-untyped-def]
    _, _, plan = plan_for(deb, {}, BARE)
    assert "/etc/alternatives" in plan.drop
    _, _, plan = plan_for(deb, {"/etc/alternatives": ["open"]}, BARE)
    assert "/etc/alternatives" not in plan.drop and "/etc/alternatives/README" in plan.drop


def test_alternatives_lose_removed_choices(fresh_deb):  # type: ignore[no-untyped-def]
    from honed.model import DpkgMeta, Ecosystem, Location, Package

    root, pkgs = fresh_deb
    (root / "usr/bin/gawk").write_bytes(b"\x7fELF")
    alt = root / "var/lib/dpkg/alternatives/awk"
    alt.write_text("manual\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\n\n"
                   "/usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/gawk\n10\n\n\n")
    gawk = Package("gawk", "1", Ecosystem.DEBIAN, "pkg:deb/debian/gawk@1", (Location("/var/lib/dpkg/status"),),
                   meta=DpkgMeta("gawk", "1", "amd64", files=("/usr/bin/gawk",)))
    fs = DirRootFS(root)
    a = analyze([*pkgs, gawk], [], realdeb.Usage({}), AnalyzeOptions(rootfs=fs, policy=Policy(keep=("gawk",))))
    plan = compute_removal(fs, a)
    assert "mawk" in {d.package.name for d in a.removed}
    assert plan.replace["/var/lib/dpkg/alternatives/awk"] == (
        b"auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\n\n/usr/bin/gawk\n10\n\n\n")
    alt.write_text("auto\n/usr/bin/awk\n\n/usr/bin/mawk\n5\n\n")
    plan = compute_removal(fs, analyze([*pkgs, gawk], [], realdeb.Usage({}),
                                       AnalyzeOptions(rootfs=DirRootFS(root), policy=Policy(keep=("gawk",)))))
    assert "/var/lib/dpkg/alternatives/awk" in plan.drop
