"""The four stages as one library call: scan → profile → analyze → harden → verify (+repair) → rescan → gate
→ the signed hardening record (DESIGN §3) → promotion (push + attach the record).

    result = run_pipeline("oci:./img:1.0", PipelineOptions(profile=ProfileOptions(tests=("pytest /app",)),
                                                           output=Path("record")))

Order of guarantees:
  * The original's tests must pass first (nothing to verify against otherwise): ProfileError, exit 3.
  * Every hardened candidate lives in a work directory until it passes; only the verified one is moved to
    its destination and pushed. Still failing after the repair rounds → the record is written (it is the
    evidence of the failure), no image is promoted, VerificationFailedError (exit 2).
  * The gate (`fail_on`) looks at the hardened scan and decides the exit code only (`result.gate`).
  * The record directory appears complete or not at all (temp dir + rename); a push that fails after that
    leaves the local image and record and says what to retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from honed import __version__
from honed.errors import HonedError, UserError, VerificationFailedError
from honed.model import Finding, Severity

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineOptions:
    profile: Any  # honed.profile.ProfileOptions: tests, probes, host tests, timeouts, backend
    output: Path = Path("honed-record")
    preset: str = "aggressive"
    keep: tuple[str, ...] = ()
    policy_file: Path | None = None
    fail_on: Severity | None = None
    tag: str | None = None  # REG/REPO:TAG (pushed) or oci:DIR:TAG (local); default: see `destination`
    sign_key: Path | None = None
    db: Path | None = None
    max_rounds: int = 3
    force_remove: tuple[str, ...] = ()  # remove these even if used: how tests and demos break an image on purpose
    attach: bool = True  # attach the record to the pushed image as an OCI artifact
    timestamp: str | None = None  # RFC 3339; default SOURCE_DATE_EPOCH, else now
    verify_trace: str = "strace"


@dataclass(frozen=True)
class PipelineResult:
    record_dir: Path
    summary: Mapping[str, Any]
    verified: bool
    gate_passed: bool
    image_dir: Path | None  # the verified hardened image as an OCI layout (local copy)
    image_ref: str  # where it was promoted: oci:DIR:TAG or REG/REPO:TAG
    pushed: bool = False
    push_error: HonedError | None = None
    retry: str = ""  # the command that retries a failed push
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.push_error is not None:
            return self.push_error.exit_code
        return 0 if self.gate_passed else 1


# ------------------------------------------------------------------------------------------- helpers


def timestamp_now(override: str | None = None) -> str:
    if override:
        return override
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    t = dt.datetime.fromtimestamp(int(sde), dt.UTC) if sde and sde.isdigit() else dt.datetime.now(dt.UTC)
    return t.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_bytes(image: Any) -> int:
    """What a user pulls: the stored (compressed) layer sizes."""
    return sum(int(getattr(la, "size", 0) or 0) for la in getattr(image, "layers", ()))


@dataclass(frozen=True)
class Destination:
    local: Path  # OCI layout of the verified image
    tag: str
    push: Any = None  # publish.Target, when the image goes to a registry

    @property
    def local_ref(self) -> str:
        return f"oci:{self.local}:{self.tag}"


def destination(input_ref: Any, tag: str | None, output: Path) -> Destination:
    """Where the verified image goes. -t REG/REPO:TAG → pushed (local copy beside the record);
    -t oci:DIR:TAG → that layout; default: the input's registry repo with TAG-hardened, or a layout
    `<output>-image` tagged `<input tag>-hardened`."""
    from honed.verify.publish import Target

    sibling = output.parent / f"{output.name}-image"
    in_tag = getattr(input_ref, "tag", None) or "latest"
    if tag is None:
        if getattr(input_ref, "transport", "") == "docker":
            repo = str(input_ref.reference)
            return Destination(sibling, f"{in_tag}-hardened", Target.parse(f"{repo}:{in_tag}-hardened"))
        return Destination(sibling, f"{in_tag}-hardened")
    if tag.startswith("oci:"):
        rest = tag[4:]
        d, sep, t = rest.rpartition(":")
        if not sep or "/" in t:
            d, t = rest, f"{in_tag}-hardened"
        return Destination(Path(d), t)
    target = Target.parse(tag)
    return Destination(sibling, target.tag, target)


# --------------------------------------------------------------------------------------------- stages


class _Stages:
    """The calls into the other stages, in one place (their contracts are in notes/TEAM.md)."""

    def __init__(self, opts: PipelineOptions, progress: Progress) -> None:
        self.o = opts
        self.say = progress
        self.timings: dict[str, float] = {}

    def timed(self, name: str) -> _Timer:
        return _Timer(self.timings, name)

    def open(self, ref: Any) -> Any:
        from honed.image import open_image

        return open_image(ref)

    def catalog(self, image: Any) -> Any:
        from honed.catalog import catalog

        return catalog(image.rootfs(), image=image)

    def db(self) -> Any:
        from honed.vuln.db import open_db

        return open_db(self.o.db)

    def scan(self, cat: Any, db: Any) -> Any:
        from honed.vuln.scan import scan

        return scan(cat, db)

    def profile(self, image: Any, cat: Any) -> Any:
        from honed.errors import ProfileError
        from honed.profile import profile

        try:
            return profile(image, replace(self.o.profile, allow_failing_tests=False), progress=self.say, catalog=cat)
        except ProfileError as e:
            raise ProfileError(
                f"refusing to harden: the original image does not pass its own tests ({e}); "
                "there is nothing to verify the hardened image against",
                hint="make the tests pass on the original image first",
            ) from None

    def policy(self) -> Any:
        from honed.analyze import Policy, load_policy
        from honed.analyze.policy import check_preset

        base = Policy(preset=check_preset(self.o.preset))
        if self.o.policy_file:
            base = load_policy(self.o.policy_file, base)
        if self.o.keep:
            base = replace(base, keep=tuple(dict.fromkeys((*base.keep, *self.o.keep))))
        return base

    def analyze(self, image: Any, cat: Any, findings: Sequence[Finding], usage: Any, policy: Any,
                restored: Sequence[str]) -> Any:
        from honed.analyze import AnalyzeOptions, analyze

        pol = replace(policy, keep=tuple(dict.fromkeys((*policy.keep, *restored)))) if restored else policy
        a = analyze(cat, findings, usage, AnalyzeOptions(
            rootfs=image.rootfs(), policy=pol, image_ref=str(image.ref),
            image_digest=str(image.manifest_digest or ""), image_config=image.config))
        force = [n for n in self.o.force_remove if n not in restored]
        return force_removal(a, force) if force else a

    def derive_rootfs(self, image: Any, himg: Any, hres: Any) -> None:
        """The hardened image's rootfs (verify runs in it, the rescan reads it) from the original's
        extraction: hardlinks minus the dropped paths plus the rewritten files, not a second extraction."""
        from honed.image.extract import derive_rootfs

        plan = getattr(hres, "plan", None)
        if plan is not None:
            derive_rootfs(image, himg, drop_paths=plan.drop, replace_files=plan.replace)

    def harden(self, image: Any, analysis: Any, dest: Path, tag: str) -> Any:
        from honed.harden import HardenOptions, harden

        return harden(image, analysis, HardenOptions(dest=f"oci:{dest}:{tag}", force=True))


class _Timer:
    def __init__(self, into: dict[str, float], name: str) -> None:
        self.into, self.name = into, name

    def __enter__(self) -> _Timer:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.into[self.name] = self.into.get(self.name, 0.0) + time.monotonic() - self.t0


def force_removal(analysis: Any, names: Sequence[str]) -> Any:
    """Mark the named packages for removal whatever the evidence says (a deliberately broken removal)."""
    wanted = set(names)
    found = {d.package.name for d in analysis.decisions if d.package.name in wanted}
    missing = sorted(wanted - found)
    if missing:
        raise UserError(f"--force-remove names no package of the image: {', '.join(missing)}")
    decisions = tuple(
        replace(d, remove=True, rule="forced: --force-remove",
                evidence="removed on request although the evidence may show it used")
        if d.package.name in wanted and not d.remove else d
        for d in analysis.decisions
    )
    return replace(analysis, decisions=decisions)


def _removal_log_dict(hres: Any) -> dict[str, Any]:
    rl = getattr(hres, "removal_log", None)
    if rl is None:
        return {}
    if isinstance(rl, Mapping):
        return dict(rl)
    for attr in ("to_json", "as_dict", "to_dict"):
        fn = getattr(rl, attr, None)
        if callable(fn):
            out = fn()
            return dict(out) if isinstance(out, Mapping) else {"removed": out}
    return {"removed": rl}


# ------------------------------------------------------------------------------------------- pipeline


def run_pipeline(ref: Any, options: PipelineOptions, *, progress: Progress | None = None) -> PipelineResult:
    from honed.atomic import atomic_dir
    from honed.report import attestation as att
    from honed.report import record as rec
    from honed.verify.loop import Candidate, removed_from_log, verify_and_repair

    say = progress or (lambda _m: None)
    o = options
    if o.max_rounds < 0:
        raise UserError("--max-rounds must not be negative")
    rec.check_destination(o.output)  # refuse a foreign directory before an hour of work
    key = att.load_private_key(o.sign_key) if o.sign_key else att.generate_key()
    st = _Stages(o, say)
    t_start = time.monotonic()
    ts = timestamp_now(o.timestamp)

    with st.timed("open"):
        say("opening the image")
        image = st.open(ref)
    dest = destination(image.ref, o.tag, o.output)
    if dest.local.exists() and not (dest.local / "oci-layout").is_file() and any(dest.local.iterdir()):
        # an existing layout gets one more tag; anything else is not ours to overwrite
        raise UserError(f"{dest.local} exists and is not an OCI layout; refusing to write the hardened image there")
    with st.timed("baseline-scan"):
        say("scanning the original image")
        db = st.db()
        cat = st.catalog(image)
        base_scan = st.scan(cat, db)
    policy = st.policy()
    with st.timed("profile"):
        say("profiling the original image")
        usage = st.profile(image, cat)

    work_base = o.output.parent / f"{o.output.name}-work"
    rec.sweep_stale(work_base)  # leftovers of a killed run
    rec.sweep_stale(dest.local)
    work = atomic_dir(work_base)
    rec.mark_owner(work)
    try:
        state: dict[str, Any] = {}

        def build(restored: tuple[str, ...]) -> Candidate:
            n = state.setdefault("count", 0)
            state["count"] = n + 1
            with st.timed("analyze"):
                analysis = st.analyze(image, cat, base_scan.findings, usage, policy, restored)
            with st.timed("harden"):
                say(f"writing the hardened image (candidate {n})")
                layout = work / f"candidate-{n}"
                hres = st.harden(image, analysis, layout, dest.tag)
                himg = st.open(f"oci:{layout}:{dest.tag}")
                st.derive_rootfs(image, himg, hres)
            rlog = _removal_log_dict(hres)
            removed = removed_from_log(rlog) if rlog else tuple(
                (d.package.name, tuple(d.package.files)) for d in analysis.removed)
            for older in state.get("built", []):  # a failed candidate is never promoted: free its disk now
                shutil.rmtree(older, ignore_errors=True)
            state["built"] = [layout]
            return Candidate(himg, removed, payload=(analysis, hres, rlog, layout))

        first = build(())
        with st.timed("verify"):
            loop = verify_and_repair(first, build, o.profile, max_rounds=o.max_rounds, trace=o.verify_trace,
                                     progress=say)
        final = loop.final
        analysis, hres, rlog, layout = final.payload
        himg = final.image

        with st.timed("hardened-scan"):
            say("scanning the hardened image")
            hcat = st.catalog(himg)
            hard_scan = st.scan(hcat, db)

        from honed.vuln.policy import gate as vuln_gate

        verdict = vuln_gate(hard_scan.findings, o.fail_on)

        # Promotion: only a verified image leaves the work directory.
        image_dir: Path | None = None
        pushed = False
        push_error: HonedError | None = None
        retry = ""
        hdigest = str(himg.manifest_digest or "")
        if loop.ok:
            image_dir = _promote_local(layout, dest.local, dest.tag)
            if dest.push is not None:
                from honed.verify.publish import push_image

                say(f"pushing {dest.push}")
                try:
                    with st.timed("push"):
                        push_image(f"oci:{image_dir}:{dest.tag}", dest.push)
                    pushed = True
                except HonedError as e:
                    push_error = e
                    retry = f"honed record push {o.output} {dest.push}"  # pushes the image, then the record

        total = time.monotonic() - t_start
        files, summary = build_record_files(
            o, image=image, himg=himg, cat=cat, hcat=hcat, base_scan=base_scan, hard_scan=hard_scan,
            usage=usage, analysis=analysis, rlog=rlog, loop=loop, verdict=verdict, dest=dest,
            pushed=pushed, key=key, ts=ts, timings={**st.timings, "total": total},
        )
        from honed.report.openvex import image_purl

        purl = image_purl(dest.push.repository if dest.push else dest.local.name, hdigest,
                          repository_url=f"{dest.push.host}/{dest.push.repository}" if dest.push else None,
                          tag=dest.tag)
        predicate = {
            "tool": {"name": "honed", "version": __version__},
            "database": {"digest": base_scan.db_digest},
            "inputImage": {"ref": str(image.ref), "digest": str(image.manifest_digest or "")},
            "hardenedImage": {"ref": str(dest.push) if dest.push else dest.local_ref, "digest": hdigest,
                              "purl": purl, "promoted": bool(loop.ok)},
            "verification": {"ok": loop.ok, "rounds": len(loop.rounds), "restored": list(loop.restored)},
            "gate": summary["gate"],
            "timestamp": ts,
        }
        say("writing the record")
        with st.timed("record"):
            record = rec.build_record(files, key=key, image=(purl, hdigest) if hdigest else None,
                                      predicate=predicate)
            rec.write_record(o.output, record)

        if pushed and o.attach and dest.push is not None:
            from honed.verify.publish import attach_record

            try:
                with st.timed("attach"):
                    attach_record(dest.push, record, subject_digest=hdigest,
                                  annotations={"org.opencontainers.image.created": ts})
            except HonedError as e:
                push_error = e
                retry = f"honed record push {o.output} {dest.push}"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not loop.ok:
        raise VerificationFailedError(
            loop.failure_message() + f"; no image was promoted; the record is in {o.output}",
        )
    return PipelineResult(
        record_dir=o.output, summary=summary, verified=loop.ok, gate_passed=verdict.passed, image_dir=image_dir,
        image_ref=str(dest.push) if dest.push else dest.local_ref, pushed=pushed, push_error=push_error,
        retry=retry, timings=dict(st.timings, total=time.monotonic() - t_start),
    )


REF_NAME = "org.opencontainers.image.ref.name"


def _promote_local(layout: Path, final: Path, tag: str) -> Path:
    """Put the verified candidate into the layout `final` under `tag`. A new layout appears by one rename;
    into an existing layout (other tags, maybe the input image itself) the blobs are added first and
    index.json is replaced atomically last, so its other tags stay and a reader never sees a dangling tag."""
    import json

    from honed.atomic import atomic_write, commit_dir

    final = final.resolve()
    if not final.exists() or not any(final.iterdir()):
        tmp = final.parent / f".{final.name}.{os.getpid()}.tmp"
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(layout, tmp, symlinks=True)  # same filesystem: the rename below is atomic
        if final.exists():
            final.rmdir()
        commit_dir(tmp, final)
        return final
    if not (final / "oci-layout").is_file():
        raise UserError(f"{final} exists and is not an OCI layout; refusing to write into it")
    src_index = json.loads((layout / "index.json").read_text())
    descs = [m for m in src_index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) == tag]
    if not descs:
        raise UserError(f"the hardened layout has no tag {tag!r}")
    for blob in sorted((layout / "blobs").rglob("*")):
        if blob.is_file():
            dst = final / blob.relative_to(layout)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                part = dst.with_name(f".{dst.name}.{os.getpid()}.part")
                shutil.copyfile(blob, part)
                os.replace(part, dst)
    index = json.loads((final / "index.json").read_text())
    others = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != tag]
    index["manifests"] = [*others, descs[0]]
    atomic_write(final / "index.json", (json.dumps(index, separators=(",", ":")) + "\n").encode())
    return final


# ---------------------------------------------------------------------------------------------- record


def build_record_files(
    o: PipelineOptions, *, image: Any, himg: Any, cat: Any, hcat: Any, base_scan: Any, hard_scan: Any, usage: Any,
    analysis: Any, rlog: Mapping[str, Any], loop: Any, verdict: Any, dest: Destination, pushed: bool, key: Any,
    ts: str, timings: Mapping[str, float],
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every record file but SHA256SUMS and the attestation (record.build_record adds those)."""
    import json

    from honed.analyze import analysis_to_json
    from honed.report import junit, scan_json
    from honed.report import sarif as sarif_w
    from honed.report.html import write_html
    from honed.report.openvex import RemovedVuln, image_purl, write_openvex
    from honed.verify.delta import delta

    def js(obj: Any) -> bytes:
        return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    hdigest = str(himg.manifest_digest or "")
    d = delta(base_scan.findings, hard_scan.findings)
    removed_ids = {x.package.id for x in analysis.removed}
    removed_by_pkg: dict[str, list[Finding]] = {}
    for f in base_scan.findings:
        if f.package_id in removed_ids:
            removed_by_pkg.setdefault(f.package_id, []).append(f)
    files_count = {n: len(fs) for n, fs in _removed_files(rlog, analysis)}
    removed_pkgs = []
    for dec in sorted(analysis.removed, key=lambda x: (x.package.name, x.package.version, x.package.id)):
        p = dec.package
        fs = removed_by_pkg.get(p.id, [])
        removed_pkgs.append({
            "name": p.name, "version": p.version, "ecosystem": p.ecosystem.value, "purl": p.purl,
            "bytes": dec.size, "files": files_count.get(p.name, len(p.files)), "rule": dec.rule,
            "evidence": dec.evidence, "flags": list(getattr(dec, "flags", ())),
            "vulnerabilities": [{"id": i, "severity": s} for i, s in sorted({(f.advisory.id, f.severity.value) for f in fs})],
        })
    restored = [{"name": p, "round": r, "reason": why} for p, r, why in loop.reasons]
    last = loop.rounds[-1].number if loop.rounds else 0
    rounds = [  # "restored" only when a next round really ran with them back
        {"round": r.number, "failed": list(r.decision.failed), "evidence": list(r.decision.evidence),
         "restored": list(r.decision.restore) if r.number < last else [],
         "suggested": list(r.decision.restore)}
        for r in loop.rounds if r.decision is not None
    ]
    phases: list[dict[str, Any]] = [{"phase": "original", "drivers": [_drv(x) for x in usage.drivers]}]
    for r in loop.rounds:
        name = "hardened" if r.number == 0 else f"hardened (after repair {r.number})"
        drv = [_drv(x) for x in r.check.drivers]
        if r.check.error and not any(x.kind == "app" and not x.ok for x in r.check.drivers):
            drv.append({"kind": "app", "command": "start the app", "ok": False, "exit_code": None, "seconds": 0.0,
                        "output_tail": r.check.error})
        phases.append({"phase": name, "drivers": drv})
    tests_seconds = sum(x["seconds"] for ph in phases for x in ph["drivers"])
    purl = image_purl(dest.push.repository if dest.push else dest.local.name, hdigest,
                      repository_url=f"{dest.push.host}/{dest.push.repository}" if dest.push else None, tag=dest.tag)
    summary: dict[str, Any] = {
        "schema": "honed.summary/v1",
        "tool": {"name": "honed", "version": __version__},
        "database": {"digest": base_scan.db_digest, "built_at": getattr(base_scan, "db_built_at", "")},
        "input_image": {"ref": str(image.ref), "digest": str(image.manifest_digest or ""),
                        "bytes": image_bytes(image), "packages": len(cat.packages)},
        "hardened_image": {"ref": str(dest.push) if dest.push else dest.local_ref, "digest": hdigest, "purl": purl,
                           "bytes": image_bytes(himg), "packages": len(hcat.packages),
                           "promoted": bool(loop.ok), "pushed": str(dest.push) if pushed else None,
                           "local": dest.local_ref if loop.ok else None},
        "vulnerabilities": d.as_dict(),
        "packages": {"before": len(cat.packages), "after": len(hcat.packages), "removed": len(removed_pkgs)},
        "bytes": {"before": image_bytes(image), "after": image_bytes(himg),
                  "saved": image_bytes(image) - image_bytes(himg)},
        "removed_packages": removed_pkgs,
        "restored_packages": restored,
        "repair_rounds": rounds,
        "tests": phases,
        "verification": {"ok": loop.ok, "rounds": len(loop.rounds), "repairs": loop.repairs,
                         "tracer": o.verify_trace},
        "gate": {"fail_on": o.fail_on.value if o.fail_on else None, "passed": verdict.passed,
                 "blocking": len(verdict.failing), "failing": list(verdict.failing)[:100]},
        "signing": {"keyid": key.keyid, "ephemeral": key.ephemeral},
        "timings": {k: round(v, 3) for k, v in sorted(timings.items())}
        | {"tests": round(tests_seconds, 3), "overhead": round(timings.get("total", 0.0) - tests_seconds, 3)},
        "preset": o.preset,
        "timestamp": ts,
    }

    vex_removed = [
        RemovedVuln(f.advisory.id, removed_pkg.purl, removed_pkg.name, tuple(f.advisory.aliases))
        for removed_pkg in (x.package for x in analysis.removed)
        for f in removed_by_pkg.get(removed_pkg.id, [])
    ]
    still = {i for f in hard_scan.findings for i in (f.advisory.id, *f.advisory.aliases)}
    # OpenVEX needs at least one statement: with no vulnerability gone there is no document to write.
    vex_doc = write_openvex(purl, vex_removed, timestamp=ts, still_present=still, tool_version=__version__)
    n_vex = len(json.loads(vex_doc)["statements"])
    summary["vex_statements"] = n_vex
    vex: bytes | None = vex_doc if n_vex else None
    rlog_out: dict[str, Any] = dict(rlog) if rlog else {"removed": removed_pkgs}
    rlog_out["repair"] = {"max_rounds": o.max_rounds, "rounds": [r.as_dict() for r in loop.rounds],
                          "restored": restored}
    tv = __version__
    files: dict[str, bytes] = {
        "baseline-scan.json": scan_json.render(base_scan, tool_version=tv).encode(),
        "baseline-scan.sarif": sarif_w.render(base_scan, base_scan.findings, tool_version=tv).encode(),
        "sbom.cdx.json": _sbom(base_scan, cat, tv, ts),
        "usage.json": usage.dumps().encode(),
        "analysis.json": js(analysis_to_json(analysis)),
        "removal-log.json": js(rlog_out),
        "hardened-scan.json": scan_json.render(hard_scan, verdict=verdict, tool_version=tv).encode(),
        "hardened-scan.sarif": sarif_w.render(hard_scan, hard_scan.findings, tool_version=tv).encode(),
        "tests.junit.xml": junit.write_junit([(ph["phase"], ph["drivers"]) for ph in phases]),
        "summary.json": js(summary),
        "report.html": write_html(summary),
    }
    if vex is not None:
        files["vex.openvex.json"] = vex
    return files, summary


def _drv(x: Any) -> dict[str, Any]:
    return {"kind": x.kind, "command": x.command, "ok": x.ok, "exit_code": x.exit_code,
            "seconds": round(float(x.seconds), 3), "output_tail": x.output_tail}


def _removed_files(rlog: Mapping[str, Any], analysis: Any) -> list[tuple[str, tuple[str, ...]]]:
    from honed.verify.loop import removed_from_log

    if rlog:
        return list(removed_from_log(rlog))
    return [(d.package.name, tuple(d.package.files)) for d in analysis.removed]


def _sbom(scan_result: Any, cat: Any, tool_version: str, created: str) -> bytes:
    """CycloneDX 1.6 SBOM of the original image (the catalog stage's writer)."""
    from honed.report import cyclonedx

    return cyclonedx.dumps(cat, created=created).encode()
