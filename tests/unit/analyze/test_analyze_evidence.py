"""The planner on real Debian 12 dpkg data: every evidence trap of DESIGN §5b."""

from __future__ import annotations

import pytest
import realdeb

from honed.analyze import AnalyzeOptions, analyze
from honed.analyze.policy import Policy
from honed.errors import UserError
from honed.image.rootfs import DirRootFS

BARE = Policy(protected=(), default_keep=())  # no protection: only evidence keeps


def run(deb, accesses, policy=BARE, findings=(), **kw):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    u = realdeb.Usage(accesses, runs=[{"id": "r", "drivers": [{"command": "pytest /app/tests"}]}])
    return analyze(pkgs, list(findings), u, AnalyzeOptions(rootfs=DirRootFS(root), policy=policy, **kw))


def kept(a):  # type: ignore[no-untyped-def]
    return {d.package.name: d for d in a.kept}


def test_merged_usr_resolved_path_credits_package_listing_old_path(deb):  # type: ignore[no-untyped-def]
    # bash's .list says /bin/bash; the tracer reports /usr/bin/bash
    a = run(deb, {"/usr/bin/bash": ["exec"], "/usr/lib/x86_64-linux-gnu/libc.so.6": ["map"]})
    k = kept(a)
    assert "bash" in k and "libc6" in k  # libc6 lists /lib/x86_64-linux-gnu/libc.so.6
    assert k["bash"].reasons[0].kind == "used"


def test_old_path_from_strace_credits_package(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/lib64/ld-linux-x86-64.so.2": ["open"], "/bin/grep": ["exec"]})
    assert {"libc6", "grep"} <= set(kept(a))


def test_merged_usr_directory_symlinks_credit_nobody(deb):  # type: ignore[no-untyped-def]
    # dozens of packages list /bin, /lib, /lib64, /sbin as directories; the image has symlinks there
    a = run(
        deb,
        {
            "/bin": ["lookup", "open"],
            "/lib": ["lookup"],
            "/lib64": ["open"],
            "/sbin": ["lookup"],
            "/usr/share/doc": ["open"],
            "/etc": ["open"],
        },
    )
    assert kept(a) == {}


def test_symlink_traversed_credits_link_owner(deb):  # type: ignore[no-untyped-def]
    via_link = run(deb, {"/usr/bin/python3": ["exec"]})  # strace reports the link the program went through
    k = kept(via_link)
    assert {"python3-minimal", "python3.11-minimal"} <= set(k)
    assert k["python3-minimal"].reasons[0].paths[0][2] == "strong via symlink"


def test_program_link_to_a_program_that_ran_counts(deb):  # type: ignore[no-untyped-def]
    # fanotify reports only the executed target; a shebang #!/usr/bin/python3 went through python3-minimal's link
    only_target = run(deb, {"/usr/bin/python3.11": ["exec"]})
    k = kept(only_target)
    assert "python3.11-minimal" in k
    assert "link to a program that ran" in k["python3-minimal"].reasons[0].detail
    opened = run(deb, {"/usr/bin/python3.11": ["open"]})  # read, not run: no shebang went through the link
    assert "python3-minimal" not in kept(opened)


def test_soname_link_credits_library_package(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/lib/x86_64-linux-gnu/libssl.so.3": ["open"]})
    assert "libssl3" in kept(a)


def test_bytecode_credits_source_owner(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/usr/lib/python3.11/json/__pycache__/decoder.cpython-311.pyc": ["open"]})
    d = kept(a)["libpython3.11-stdlib"]
    assert any("bytecode" in p[2] for r in d.reasons for p in r.paths)


def test_unowned_links_followed_to_owner(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/etc/localtime": ["open"]})
    assert "tzdata" in kept(a)
    a = run(deb, {"/etc/alternatives/awk": ["exec"]})
    assert "mawk" in kept(a)
    a = run(deb, {"/usr/bin/awk": ["exec"]})  # owned by nobody → /etc/alternatives/awk → mawk
    assert "mawk" in kept(a)
    a = run(
        deb, {"/etc/ssl/certs/002c0b4f.0": ["open"]}
    )  # hash link → .pem link → /usr/share/ca-certificates
    assert "ca-certificates" in kept(a)
    a = run(deb, {"/etc/ssl/certs/ca-certificates.crt": ["open"]})  # generated bundle
    assert kept(a)["ca-certificates"].reasons[0].paths[0][2] == "strong via generated"


def test_file_read_by_one_package_owned_by_another(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/usr/lib/ssl/openssl.cnf": ["open"]})  # read by libssl3, owned by openssl
    assert set(kept(a)) == {"openssl"}


def test_lookup_counts_by_default_and_can_be_ignored(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/usr/bin/curl": ["lookup"]})
    d = kept(a)["curl"]
    assert "only looked up" in d.reasons[0].detail
    a = run(
        deb, {"/usr/bin/curl": ["lookup"]}, policy=Policy(protected=(), default_keep=(), lookups="ignore")
    )
    assert "curl" not in kept(a)
    gone = {d.package.name: d for d in a.removed}["curl"]
    assert "only looked up" in gone.evidence


def test_metadata_and_missing_are_not_evidence(deb):  # type: ignore[no-untyped-def]
    a = run(
        deb,
        {
            "/usr/share/doc/curl/copyright": ["open"],
            "/var/lib/dpkg/info/curl.list": ["open"],
            "/usr/bin/wget": ["missing"],
            "/usr/bin/curl": ["missing"],
        },
    )
    assert kept(a) == {}
    curl = {d.package.name: d for d in a.removed}["curl"]
    assert "only its package metadata was read" in curl.evidence


def test_removal_evidence_sentence_names_runs(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {})
    d = {d.package.name: d for d in a.removed}["curl"]
    assert d.evidence == (
        "no file of this package was opened, executed or looked up in 1 run of: pytest /app/tests"
    )
    assert d.rule.startswith("aggressive")


def test_protected_and_default_keep(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {}, policy=Policy())
    k = kept(a)
    assert k["base-files"].reasons[0].kind == "protected"
    assert k["libc6"].reasons[0].kind == "protected"
    for name in ("ca-certificates", "tzdata", "libc-bin", "libgcc-s1", "media-types"):
        assert k[name].reasons[0].kind == "default-keep", name
    removed = {d.package.name: d for d in a.removed}
    assert "package-manager" in removed["dpkg"].flags
    assert "shell" in removed["bash"].flags


def test_rare_content_is_flagged_when_removed(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {})
    removed = {d.package.name: d for d in a.removed}
    assert "time-zones" in removed["tzdata"].flags
    assert "nss-modules" in removed["libc6"].flags
    assert "ca-certificates" in removed["ca-certificates"].flags


def test_keep_list_names_globs_paths_and_typos(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {}, policy=Policy(protected=(), default_keep=(), keep=("curl", "libpam*", "/usr/bin/gzip")))
    k = kept(a)
    assert {"curl", "libpam0g", "libpam-modules", "gzip"} <= set(k)
    assert k["curl"].reasons[0].kind == "keep-list"
    with pytest.raises(UserError) as e:
        run(deb, {}, policy=Policy(keep=("curll",)))
    assert "curll" in str(e.value) and "curl" in (e.value.hint or "")
    with pytest.raises(UserError):
        run(deb, {}, policy=Policy(keep=("/no/such/**",)))


def test_kept_package_keeps_what_its_symlinks_point_at(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {}, policy=Policy(protected=(), default_keep=(), keep=("python3-minimal",)))
    d = kept(a)["python3.11-minimal"]
    assert d.reasons[0].kind == "needed-by" and "/usr/bin/python3" in d.reasons[0].detail


def test_doc_symlinks_do_not_keep_packages(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {}, policy=Policy(protected=(), default_keep=(), keep=("python3-minimal",)))
    reasons = [r.detail for r in kept(a)["python3.11-minimal"].reasons]
    assert not any("/usr/share/man" in r for r in reasons)


def test_follow_depends(deb):  # type: ignore[no-untyped-def]
    a = run(deb, {"/usr/bin/curl": ["exec"]})
    assert "libcurl4" not in kept(a)
    a = run(
        deb, {"/usr/bin/curl": ["exec"]}, policy=Policy(protected=(), default_keep=(), follow_depends=True)
    )
    k = kept(a)
    assert k["libcurl4"].reasons[0].kind == "depends"
    assert "libc6" in k  # transitively


def test_image_config_entrypoint_counts_as_exec(deb):  # type: ignore[no-untyped-def]
    cfg = {
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Cmd": ["python3", "app.py"],
            "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
        }
    }
    a = run(deb, {}, image_config=cfg)
    assert {"python3-minimal", "python3.11-minimal", "dash"} <= set(kept(a))


def test_usage_from_another_image_is_refused(deb):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    u = realdeb.Usage({}, image_digest="sha256:" + "a" * 64)
    with pytest.raises(UserError, match="another|not for this image"):
        analyze(pkgs, [], u, AnalyzeOptions(rootfs=DirRootFS(root), image_digest="sha256:" + "b" * 64))


def test_real_trace_keeps_what_the_run_needs(deb):  # type: ignore[no-untyped-def]
    root, pkgs = deb
    a = analyze(pkgs, [], realdeb.usage(), AnalyzeOptions(rootfs=DirRootFS(root)))
    k = kept(a)
    need = {
        "libc6",
        "libssl3",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "python3.11-minimal",
        "python3-minimal",
        "dash",
        "coreutils",
        "zlib1g",
        "libexpat1",
        "tzdata",
        "ca-certificates",
    }
    assert need <= set(k)
    assert len(a.removed) > 80  # most of the image goes, as DESIGN §5b expects
    assert {"dpkg", "apt", "perl-base", "curl", "bash"} <= {d.package.name for d in a.removed}


def test_venv_python_link_credits_the_interpreter_packages(fresh_deb):  # type: ignore[no-untyped-def]
    root, _ = fresh_deb
    (root / "opt/venv/bin").mkdir(parents=True)
    (root / "opt/venv/bin/python3").symlink_to("/usr/bin/python3")
    (root / "opt/venv/bin/python").symlink_to("python3")
    a = run(fresh_deb, {"/opt/venv/bin/python": ["exec"]})
    assert {"python3-minimal", "python3.11-minimal"} <= set(kept(a))
    assert a.unowned_used == ()
