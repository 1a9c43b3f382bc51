"""Stage 2: usage × ownership × findings → removal candidates, upgrade targets, and why each package stays.

    analysis = analyze(catalog, findings, usage, AnalyzeOptions(rootfs=image.rootfs(), ...))
    analysis_to_json(analysis)  # the analysis.json document ("honed.analysis/v1")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.analyze.evidence import Evidence, config_executables
from honed.analyze.ownership import Ownership
from honed.analyze.plan import Analysis, Decision, Reason, UpgradeTarget, plan
from honed.analyze.policy import Policy, load_policy
from honed.catalog.ownership import OwnershipIndex
from honed.image.rootfs import RootFS
from honed.model import Access, Finding, Package

log = logging.getLogger(__name__)

SCHEMA = "honed.analysis/v1"

__all__ = [
    "Analysis",
    "AnalyzeOptions",
    "Decision",
    "Policy",
    "Reason",
    "UpgradeTarget",
    "analysis_to_json",
    "analyze",
    "load_policy",
    "usage_drivers",
]


@dataclass(frozen=True, slots=True)
class AnalyzeOptions:
    rootfs: RootFS
    policy: Policy = field(default_factory=Policy)
    image_ref: str = ""
    image_digest: str = ""  # the analysed image's manifest digest: the usage report must name the same
    image_config: Mapping[str, Any] | None = None  # OCI config: entrypoint/cmd/healthcheck count as exec
    check_repository: bool = False  # Debian: look up fixed versions in the release's repository (network)
    mirror: str = "http://deb.debian.org/debian"


def usage_drivers(usage: Any) -> tuple[int, tuple[str, ...]]:
    """(number of runs, distinct driver commands in order) from a UsageReport."""
    runs = list(getattr(usage, "runs", ()) or ())
    cmds: list[str] = []
    drivers: Iterable[Any] = getattr(usage, "drivers", None) or [
        d for r in runs for d in (r.get("drivers", ()) if isinstance(r, dict) else getattr(r, "drivers", ()))
    ]
    for d in drivers:
        c = d.get("command") if isinstance(d, dict) else getattr(d, "command", None)
        if c and c not in cmds:
            cmds.append(str(c))
    return len(runs), tuple(cmds)


def analyze(catalog: Any, findings: Sequence[Finding], usage: Any, options: AnalyzeOptions) -> Analysis:
    """Join the catalog, the findings and the usage report into an `Analysis` (see honed.analyze.plan).

    `catalog` needs `.packages` (and optionally `.distro`); `usage` needs `.image_digest`, `.paths()`,
    `.runs` (and optionally `.drivers`). A usage report recorded for another image is refused.
    """
    from honed.analyze.api import check_usage_digest

    udig = getattr(usage, "image_digest", "") or ""
    check_usage_digest(udig, options.image_digest)
    packages: Sequence[Package] = tuple(getattr(catalog, "packages", catalog))
    index = getattr(catalog, "ownership", None)  # the catalog's index (canonical paths, diversions)
    own = Ownership(packages, options.rootfs, index=index if isinstance(index, OwnershipIndex) else None)
    ev = Evidence(own)
    paths: Mapping[str, Iterable[Access | str]] = usage.paths()
    ev.add_usage(paths)
    ev.add_config(config_executables(options.image_config))
    ev.add_config_env(options.image_config)
    ev.add_program_links()
    runs, drivers = usage_drivers(usage)
    distro = _distro(getattr(catalog, "distro", None))
    a = plan(packages, own, ev, findings, options.policy, runs=runs, drivers=drivers,
             image_ref=options.image_ref, image_digest=options.image_digest or udig, distro=distro)
    if options.check_repository and a.upgrades:
        from honed.analyze.repository import check_upgrades

        a = check_upgrades(a, mirror=options.mirror)
    log.info("analysis: %d packages, %d to remove, %d upgrade targets",
             len(a.decisions), len(a.removed), len(a.upgrades))
    return a


def _distro(d: Any) -> dict[str, str]:
    if d is None:
        return {}
    if isinstance(d, Mapping):
        return {k: str(v) for k, v in d.items() if v is not None}
    return {k: str(getattr(d, k)) for k in ("id", "version_id", "codename") if getattr(d, k, None)}


def _finding_json(f: Finding) -> dict[str, Any]:
    d: dict[str, Any] = {"id": f.advisory.id, "severity": f.severity.value, "fixed_version": f.fixed_version}
    if f.advisory.aliases:
        d["aliases"] = sorted(f.advisory.aliases)
    if f.suppressed_by:
        d["suppressed_by"] = f.suppressed_by
    return d


def _pkg_json(d: Decision) -> dict[str, Any]:
    p = d.package
    out: dict[str, Any] = {
        "id": p.id, "name": p.name, "version": p.version, "ecosystem": p.ecosystem.value,
        "bytes": d.size, "cves": [_finding_json(f) for f in d.findings],
    }
    if d.flags:
        out["flags"] = list(d.flags)
    if d.container:
        out["container"] = d.container
    return out


def analysis_to_json(a: Analysis) -> dict[str, Any]:
    removed = [{**_pkg_json(d), "rule": d.rule, "evidence": d.evidence} for d in a.removed]
    kept = [{**_pkg_json(d), "reasons": [r.to_json() for r in d.reasons]} for d in a.kept]
    upgrades = [
        {
            "id": u.package_id, "name": u.name, "version": u.version, "ecosystem": u.ecosystem, "used": u.used,
            "fixed_version": u.fixed_version, "in_repository": u.in_repository,
            "repository_version": u.repository_version,
            "cves": [{"id": i, "severity": s, "fixed_version": fx} for i, s, fx in u.findings],
        }
        for u in a.upgrades
    ]
    pol = a.policy
    return {
        "schema": SCHEMA,
        "image": {"ref": a.image_ref, "digest": a.image_digest},
        "distro": dict(sorted(a.distro.items())),
        "usage": {"runs": a.runs, "drivers": list(a.drivers), "unowned_paths_used": list(a.unowned_used)},
        "policy": {
            "preset": pol.preset, "mode": pol.mode, "keep": list(pol.keep), "protected": list(pol.protected),
            "default_keep": list(pol.default_keep), "lookups": pol.lookups, "follow_depends": pol.follow_depends,
            "sources": list(pol.sources),
        },
        "summary": {
            "packages": len(a.decisions),
            "removal_candidates": len(removed),
            "kept": len(kept),
            "kept_used": sum(1 for d in a.kept if any(r.kind == "used" for r in d.reasons)),
            "bytes_removable": sum(d.size for d in a.removed),
            "cves_removable": len({f.advisory.id for d in a.removed for f in d.findings}),
            "upgrade_targets": len(upgrades),
        },
        "removal_candidates": removed,
        "upgrade_targets": upgrades,
        "kept": kept,
    }
