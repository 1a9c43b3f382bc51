"""`honed analyze` / `honed harden` as library calls over an image reference and a usage report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.analyze.plan import Analysis
from honed.analyze.policy import Policy
from honed.errors import DatabaseError, UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageAnalysisRequest:
    image: str  # image reference
    usage: Path  # usage.json from `honed profile`
    policy: Policy = Policy()
    db: Path | None = None  # vulnerability database; None: the default location
    check_repository: bool = False
    cache_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ImageAnalysis:
    analysis: Analysis
    image: Any  # honed.image.Image
    catalog: Any  # honed.catalog.Catalog
    db_digest: str = ""


def check_usage_digest(usage_digest: str, image_digest: str) -> None:
    if usage_digest and image_digest and usage_digest != image_digest:
        raise UserError(
            f"the usage report was recorded for image {usage_digest}, not for this image ({image_digest})",
            hint="profile this image (honed profile) and pass that usage.json",
        )


def analyze_image(req: ImageAnalysisRequest) -> ImageAnalysis:
    """Open the image, catalogue it, match findings, load the usage report and analyse."""
    from honed.analyze import AnalyzeOptions, analyze
    from honed.catalog import catalog
    from honed.image import open_image
    from honed.profile.usage import load_usage

    usage = load_usage(req.usage)  # bad usage files fail before any image work
    image = open_image(req.image, cache_dir=req.cache_dir)
    digest = str(image.manifest_digest or "")
    check_usage_digest(usage.image_digest, digest)  # before any costly work
    fs = image.rootfs()
    cat = catalog(fs, image=image)
    findings: tuple[Any, ...] = ()
    db_digest = ""
    try:
        from honed.vuln.db import open_db
        from honed.vuln.scan import scan

        with open_db(req.db) as db:
            res = scan(cat, db)
            findings, db_digest = res.findings, res.db_digest
    except DatabaseError:
        if req.policy.preset != "aggressive" or req.db is not None:
            raise  # the preset decides by CVEs: without a database it cannot
        log.warning("no vulnerability database: the analysis names no CVEs (run `honed db update`)")
    a = analyze(cat, findings, usage, AnalyzeOptions(
        rootfs=fs, policy=req.policy, image_ref=str(image.ref), image_digest=digest,
        image_config=image.config, check_repository=req.check_repository,
    ))
    return ImageAnalysis(a, image, cat, db_digest)
