"""Stage 2 evidence: run the image's app in a sandbox, drive it, trace every file it uses.

profile(ref, options) -> UsageReport          # honed profile
run_drivers(image_or_rootfs, options, trace=) # one traced run; verify reuses it
load_usage(path) -> UsageReport               # usage.json ("honed.usage/v1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honed.profile.api import profile, report_from_runs
    from honed.profile.options import HttpProbe, ProfileOptions, parse_probe
    from honed.profile.runner import RunResult, run_drivers
    from honed.profile.usage import UsageReport, load_usage, merge

_EXPORTS = {
    "profile": "honed.profile.api",
    "report_from_runs": "honed.profile.api",
    "HttpProbe": "honed.profile.options",
    "ProfileOptions": "honed.profile.options",
    "parse_probe": "honed.profile.options",
    "RunResult": "honed.profile.runner",
    "run_drivers": "honed.profile.runner",
    "UsageReport": "honed.profile.usage",
    "load_usage": "honed.profile.usage",
    "merge": "honed.profile.usage",
}

__all__ = [
    "HttpProbe",
    "ProfileOptions",
    "RunResult",
    "UsageReport",
    "load_usage",
    "merge",
    "parse_probe",
    "profile",
    "report_from_runs",
    "run_drivers",
]


def __getattr__(name: str) -> Any:  # lazy, so `honed --help` imports nothing of this
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(mod), name)
