"""`honed pipeline IMAGE --test CMD…`: scan → profile → analyze → harden → verify (+repair) → rescan → gate →
the signed hardening record, and promotion of the verified image."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_driver_args(p: argparse.ArgumentParser) -> None:
    """The drivers and sandbox options, shared with `honed verify` (same names as `honed profile`)."""
    p.add_argument("--test", action="append", default=[], metavar="CMD", help="command run inside the image (repeatable)")
    p.add_argument("--http-probe", action="append", default=[], metavar="PORT[/PATH]",
                   help="GET / and PATH on PORT (repeatable)")
    p.add_argument("--host-test", action="append", default=[], metavar="CMD",
                   help="shell command run on the host with HONED_TARGET_URL set (repeatable)")
    p.add_argument("--openapi", metavar="PATH", help="path of the app's OpenAPI JSON; GET its parameter-free paths")
    p.add_argument("--port", type=int, help="the app's port (default: from --http-probe or ExposedPorts)")
    p.add_argument("--duration", type=float, metavar="S", help="let the app run on its own for S seconds")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="kill a hanging test after S seconds (600)")
    p.add_argument("--start-timeout", type=float, default=30.0, metavar="S", help="wait for the app's port (30)")
    p.add_argument("--backend", choices=("bwrap", "runc", "podman"), default="bwrap", help="sandbox (bwrap)")
    p.add_argument("--db", metavar="PATH", help="advisory database (default: $HONED_DB or ~/.cache/honed/db)")


def profile_options(args: argparse.Namespace) -> Any:
    from honed.profile import ProfileOptions, parse_probe

    return ProfileOptions(
        tests=tuple(args.test), http_probes=tuple(parse_probe(x) for x in args.http_probe),
        host_tests=tuple(args.host_test), openapi=args.openapi, port=args.port, duration=args.duration,
        timeout=args.timeout, start_timeout=args.start_timeout, backend=args.backend,
    )


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pipeline",
        help="harden an image end to end and write the signed hardening record",
        description="scan → profile (the original must pass its tests) → analyze → harden → verify with the same "
        "tests, putting back packages the evidence shows were needed (bounded) → rescan → gate → the record in "
        "--output (signed) → push NAME:TAG-hardened and attach the record. Exit codes: 0 ok, 1 gate failed, "
        "2 verification failed (nothing promoted), 3 bad input, 4 environment/registry, 5 internal.",
    )
    p.add_argument("image", help="input image: oci:DIR[:TAG], docker-archive:FILE, docker://REG/REPO:TAG …")
    add_driver_args(p)
    p.add_argument("--preset", choices=("aggressive", "standard", "light"), default="aggressive",
                   help="what may go: every unused package (aggressive), unused with any CVE (standard), "
                   "unused with HIGH/CRITICAL CVEs (light)")
    p.add_argument("--keep", action="append", default=[], metavar="PKG|GLOB", help="never remove (repeatable)")
    p.add_argument("--policy", metavar="FILE", help="policy file (YAML) for teams")
    p.add_argument("--fail-on", metavar="SEVERITY",
                   help="exit 1 if the hardened image still has a finding at or above SEVERITY (the report is "
                   "complete either way)")
    p.add_argument("-t", "--tag", metavar="NAME:TAG",
                   help="destination: REG/REPO:TAG (pushed, record attached) or oci:DIR:TAG; default: the input "
                   "registry's TAG-hardened, or the layout OUTPUT-image")
    p.add_argument("-o", "--output", default="honed-record", metavar="DIR", help="record directory (honed-record)")
    p.add_argument("--sign-key", metavar="FILE",
                   help="ed25519 private key (PEM or raw) to sign the record; default: an ephemeral key whose "
                   "public half is kept in the record (integrity only)")
    p.add_argument("--max-rounds", type=int, default=3, metavar="N", help="repair rounds at most (3)")
    p.add_argument("--force-remove", action="append", default=[], metavar="PKG",
                   help="remove PKG whatever the evidence says (to see verification and repair at work)")
    p.add_argument("--no-attach", action="store_true", help="do not attach the record to the pushed image")
    p.set_defaults(func=run)


def before_after_table(summary: Any) -> str:
    """The plain before/after table printed at the end (and by `make demo`)."""
    from honed.report.html import human_bytes

    v = summary["vulnerabilities"]
    rows = [("", "before", "after", "removed")]
    for sev in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"):
        b, a, r = v["before"].get(sev, 0), v["after"].get(sev, 0), v["removed"].get(sev, 0)
        if b or a or r:
            rows.append((sev.lower(), str(b), str(a), str(r)))
    rows.append(("findings", str(v["before_total"]), str(v["after_total"]), str(v["removed_total"])))
    pk, by = summary["packages"], summary["bytes"]
    rows.append(("packages", str(pk["before"]), str(pk["after"]), str(pk["removed"])))
    rows.append(("size", human_bytes(by["before"]), human_bytes(by["after"]), human_bytes(by["saved"])))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]:>{w[3]}}" for r in rows)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from honed.errors import VerificationFailedError
    from honed.pipeline import PipelineOptions, run_pipeline
    from honed.verify.delta import parse_fail_on

    opts = PipelineOptions(
        profile=profile_options(args), output=Path(args.output), preset=args.preset, keep=tuple(args.keep),
        policy_file=Path(args.policy) if args.policy else None, fail_on=parse_fail_on(args.fail_on), tag=args.tag,
        sign_key=Path(args.sign_key) if args.sign_key else None, db=Path(args.db) if args.db else None,
        max_rounds=args.max_rounds, force_remove=tuple(args.force_remove), attach=not args.no_attach,
    )
    quiet = args.quiet or not sys.stderr.isatty()
    try:
        if quiet:
            res = run_pipeline(args.image, opts, progress=lambda m: None)
        else:
            from rich.console import Console

            console = Console(stderr=True)
            with console.status("pipeline…") as status:
                res = run_pipeline(args.image, opts, progress=lambda m: status.update(m))
    except VerificationFailedError:
        raise
    s = res.summary
    print(before_after_table(s))
    ver = s["verification"]
    restored = ", ".join(x["name"] for x in s["restored_packages"]) or "none"
    print(f"\nverified: tests pass on the hardened image ({ver['repairs']} repair round(s); put back: {restored})")
    print(f"image:  {res.image_ref}  {s['hardened_image']['digest']}" + ("  (pushed)" if res.pushed else ""))
    print(f"record: {res.record_dir}  (check: honed record verify {res.record_dir})")
    if s["signing"]["ephemeral"]:
        print("note: signed with an ephemeral key (integrity only); pass --sign-key to sign with your key",
              file=sys.stderr)
    t = s["timings"]
    print(f"time:   {t['total']:.1f} s total, {t['tests']:.1f} s in your tests, overhead {t['overhead']:.1f} s",
          file=sys.stderr)
    if res.push_error is not None:
        print(f"honed: error: {res.push_error.render()}", file=sys.stderr)
        print(f"honed: the local image and record are complete; retry with: {res.retry}", file=sys.stderr)
    elif not res.gate_passed:
        g = s["gate"]
        print(f"honed: gate failed: {g['blocking']} finding(s) at or above {g['fail_on']} remain "
              f"(e.g. {', '.join(g['failing'][:3])})", file=sys.stderr)
    return res.exit_code
