"""`honed harden` as one library call: analyse the image against its usage report, then write the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.analyze.api import ImageAnalysis, ImageAnalysisRequest, analyze_image
from honed.atomic import atomic_write
from honed.harden import HardenOptions, HardenResult, harden


@dataclass(frozen=True, slots=True)
class ImageHardening:
    analyzed: ImageAnalysis
    result: HardenResult


def harden_image(req: ImageAnalysisRequest, options: HardenOptions, *,
                 removal_log: Path | None = None, analysis_out: Path | None = None) -> ImageHardening:
    import json

    from honed.analyze import analysis_to_json
    from honed.harden import _refuse_existing

    if options.dest and not options.force:
        _refuse_existing(options.dest)  # before minutes of work, not after
    analyzed = analyze_image(req)
    result = harden(analyzed.image, analyzed.analysis, options)
    log: dict[str, Any] = dict(result.removal_log)
    if analyzed.db_digest:
        log["db_digest"] = analyzed.db_digest
        result = HardenResult(result.image_ref, log, result.plan)
    if removal_log is not None:
        atomic_write(removal_log, (json.dumps(log, indent=2, sort_keys=True) + "\n").encode())
    if analysis_out is not None:
        atomic_write(analysis_out, (json.dumps(analysis_to_json(analyzed.analysis), indent=2, sort_keys=True)
                                    + "\n").encode())
    return ImageHardening(analyzed, result)
