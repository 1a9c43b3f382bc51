"""Stage 3: an analysis → a new image without the removed packages, whose package databases tell the truth.

    result = harden(image, analysis, HardenOptions(dest="oci:out:app-hardened"))
    result.image_ref, result.removal_log  # the written image; the removal-log.json document
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from honed import __version__
from honed.analyze.plan import Analysis
from honed.errors import UserError
from honed.harden.executor import RemovalPlan, compute_removal, filter_stanzas
from honed.model import ImageRef

log = logging.getLogger(__name__)

LOG_SCHEMA = "honed.removal-log/v1"
LABEL_BASE_DIGEST = "org.opencontainers.image.base.digest"
LABEL_BASE_NAME = "org.opencontainers.image.base.name"
LABEL_VERSION = "dev.honed.version"
LABEL_PRESET = "dev.honed.preset"
LABEL_MODE = "dev.honed.mode"

__all__ = ["HardenOptions", "HardenResult", "RemovalPlan", "compute_removal", "default_destination",
           "filter_stanzas", "harden", "removal_log"]


@dataclass(frozen=True, slots=True)
class HardenOptions:
    dest: str | None = None  # any writable image reference; None: the input's NAME:TAG-hardened
    tag: str | None = None  # NAME:TAG for the default destination's transport
    force: bool = False  # replace an existing destination
    mode: str | None = None  # packages | files; None: the analysis policy's mode
    squash: bool = False


@dataclass(frozen=True, slots=True)
class HardenResult:
    image_ref: ImageRef
    removal_log: dict[str, Any]
    plan: RemovalPlan = field(repr=False)


def default_destination(ref: ImageRef, tag: str | None = None) -> str:
    """Where the hardened image goes when no destination is given: the input's transport, tagged
    `TAG-hardened` (an OCI layout gets a new tag beside the old one). `tag` (`NAME:TAG`, or just a tag
    for layouts) overrides the name and tag."""
    t = ref.transport
    if tag:
        name, sep, tg = tag.rpartition(":")
        if not sep or "/" in tg:
            name, tg = tag, "latest"
        if t in ("oci", "oci-archive"):
            return f"{t}:{ref.reference}:{tg if sep else tag}"
        if t == "docker-archive":
            return f"docker-archive:{ref.reference.removesuffix('.tar')}-hardened.tar:{name}:{tg}"
        if t == "docker":
            return f"docker://{name}:{tg}"
        return f"{t}:{name}:{tg}"
    base_tag = ref.tag or "latest"
    if t in ("oci", "oci-archive"):
        return f"{t}:{ref.reference}:{base_tag}-hardened"
    if t == "docker-archive":
        return f"docker-archive:{ref.reference.removesuffix('.tar')}-hardened.tar"
    if t == "docker":
        return f"docker://{ref.reference}:{base_tag}-hardened"
    return f"{t}:{ref.reference}:{base_tag}-hardened"


def removal_log(analysis: Analysis, plan: RemovalPlan, *, output: ImageRef | None = None) -> dict[str, Any]:
    """The removal-log.json document: per removed package what went, with which CVEs, on what evidence."""
    removed = []
    sev: Counter[str] = Counter()
    cve_ids: set[str] = set()
    for d in analysis.removed:
        pf = plan.removed.get(d.id)
        cves = [{"id": f.advisory.id, "severity": f.severity.value} for f in d.findings if not f.suppressed_by]
        for c in cves:
            if c["id"] not in cve_ids:
                cve_ids.add(c["id"])
                sev[c["severity"]] += 1
        removed.append({
            "id": d.id, "name": d.package.name, "version": d.package.version,
            "ecosystem": d.package.ecosystem.value,
            "files": list(pf.files) if pf else [], "file_count": len(pf.files) if pf else 0,
            "bytes": pf.bytes if pf else 0,
            "cves": cves, "evidence": d.evidence, "rule": d.rule, "flags": list(d.flags),
        })
    by = {d.id: d for d in analysis.decisions}
    trimmed: list[dict[str, Any]] = [
        {"id": pid, "name": by[pid].package.name, "version": by[pid].package.version,
         "ecosystem": by[pid].package.ecosystem.value, "files": list(pf.files), "bytes": pf.bytes,
         "evidence": f"never touched in {analysis.runs_sentence()}"}
        for pid, pf in plan.trimmed.items()
    ]
    flagged = sorted({f"{d.package.name} ({', '.join(d.flags)})" for d in analysis.removed if d.flags})
    return {
        "schema": LOG_SCHEMA,
        "honed_version": __version__,
        "image": {"ref": analysis.image_ref, "digest": analysis.image_digest},
        "output": {"ref": str(output) if output else None, "digest": output.digest if output else None},
        "preset": analysis.policy.preset,
        "mode": "files" if plan.trimmed else analysis.policy.mode,
        "policy_sources": list(analysis.policy.sources),
        "usage": {"runs": analysis.runs, "drivers": list(analysis.drivers)},
        "summary": {
            "packages_removed": len(removed),
            "files_removed": len(plan.drop),
            "bytes_removed": plan.dropped_bytes,
            "cves_removed": len(cve_ids),
            "cves_removed_by_severity": dict(sorted(sev.items())),
            "files_trimmed_in_kept_packages": sum(len(t["files"]) for t in trimmed),
            "flagged_removals": flagged,
        },
        "rewritten": sorted(plan.replace),
        "removed": removed,
        "trimmed": trimmed,
    }


def _refuse_existing(dest: str) -> None:
    """The writer refuses existing archives; an OCI layout may hold other tags, so check the tag itself."""
    import json
    from pathlib import Path

    from honed.errors import DestinationExistsError
    from honed.image.reference import parse

    d = parse(dest)
    if d.transport in ("docker", "containers-storage"):
        _refuse_existing_remote(d)
        return
    if d.transport != "oci":
        return
    index = Path(d.reference) / "index.json"
    try:
        doc = json.loads(index.read_text())
    except (OSError, ValueError):
        return
    tag = d.tag or "latest"
    for m in doc.get("manifests") or []:
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            raise DestinationExistsError(f"{d.reference} (tag {tag})")


def _refuse_existing_remote(d: ImageRef) -> None:
    """A registry or containers-storage tag that already exists: `skopeo inspect` finds it. When the
    destination cannot be asked (no skopeo, unreachable), the write itself reports the problem."""
    import shutil
    import subprocess

    from honed.errors import DestinationExistsError
    from honed.image.image import insecure_host, transport_string

    exe = shutil.which("skopeo")
    if exe is None:
        return
    args = [exe, "inspect", "--raw"]
    if d.transport == "docker" and insecure_host(d):
        args.append("--tls-verify=false")
    target = transport_string(ImageRef(d.transport, d.reference, d.tag or "latest"))
    try:
        proc = subprocess.run([*args, target], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return
    if proc.returncode == 0:
        raise DestinationExistsError(target)


def harden(image: Any, analysis: Analysis, options: HardenOptions | None = None) -> HardenResult:
    """Write the hardened image. `image` is an honed.image.Image (the one the analysis was made for)."""
    from honed.image.writer import write_image

    options = options or HardenOptions()
    digest = getattr(image, "manifest_digest", None) or getattr(image.ref, "digest", None) or ""
    if analysis.image_digest and digest and analysis.image_digest != digest:
        raise UserError(f"the analysis was made for image {analysis.image_digest}, not for this image ({digest})")
    fs = image.rootfs()
    mode = options.mode or analysis.policy.mode
    plan = compute_removal(fs, analysis, mode=mode)
    dest = options.dest or default_destination(image.ref, options.tag)
    if not options.force:
        _refuse_existing(dest)
    labels = {
        LABEL_BASE_DIGEST: digest,
        LABEL_BASE_NAME: str(image.ref),
        LABEL_VERSION: __version__,
        LABEL_PRESET: analysis.policy.preset,
        LABEL_MODE: mode,
    }
    log.info("hardening %s → %s: dropping %d paths (%d bytes), rewriting %d files",
             image.ref, dest, len(plan.drop), plan.dropped_bytes, len(plan.replace))
    kwargs: dict[str, Any] = dict(drop_paths=plan.drop, replace_files=dict(plan.replace), labels=labels,
                                  annotations=labels, squash=options.squash)
    import inspect

    if "force" in inspect.signature(write_image).parameters:
        kwargs["force"] = options.force
    out = write_image(image, dest, **kwargs)
    return HardenResult(out, removal_log(analysis, plan, output=out), plan)
