"""`profile(ref, options)`: open the image, one traced run, owners from the catalog → UsageReport."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from honed.errors import ProfileError
from honed.profile.options import ProfileOptions
from honed.profile.owners import OwnersFn, ownership
from honed.profile.runner import RunResult, run_drivers
from honed.profile.usage import PathUse, UsageReport, UsageRun, run_id, summarize

log = logging.getLogger(__name__)


def _usage_run(result: RunResult, image_digest: str, owners: OwnersFn, packages_total: int) -> UsageRun:
    paths = {
        p: PathUse(access=_sorted(a), owners=owners(p) if _used(a) else ()) for p, a in result.paths.items()
    }
    # timings at the precision usage.json keeps, so a written report loads back equal
    drivers = tuple(replace(d, seconds=round(d.seconds, 3)) for d in result.drivers)
    return UsageRun(
        id=run_id(image_digest, result.tracer, drivers, paths),
        tracer=result.tracer,
        seconds=round(result.seconds, 3),
        drivers=drivers,
        paths=paths,
        summary=summarize(paths, packages_total),
        error=result.error,
    )


def _sorted(a: Iterable[Any]) -> tuple[Any, ...]:
    from honed.profile.usage import sort_access

    return sort_access(a)


def _used(accesses: Iterable[Any]) -> bool:
    from honed.model import Access

    return any(a is not Access.MISSING for a in accesses)


def report_from_runs(
    results: Iterable[RunResult],
    *,
    rootfs: Path | str,
    image_ref: str = "",
    image_digest: str = "",
    image: Any = None,
    owners: tuple[OwnersFn, int] | None = None,
) -> UsageReport:
    """RunResults → a UsageReport with owners from the catalog of `rootfs` (or the given `owners`)."""
    fn, total = owners if owners is not None else ownership(rootfs, image)
    runs = tuple(_usage_run(r, image_digest, fn, total) for r in results)
    return UsageReport(image_ref=image_ref, image_digest=image_digest, runs=runs)


def check(result: RunResult, options: ProfileOptions) -> None:
    """The run's verdict for profiling: it must have finished, and its tests passed (unless allowed)."""
    if result.error is not None:
        raise ProfileError(result.error)
    failed = result.failed_drivers()
    app = next((d for d in failed if d.kind == "app"), None)
    if app is not None:
        # the app died on its own while the drivers ran: their failures follow from it (an entered test dies
        # with the app's pid namespace), and a crashed app is no evidence even with --allow-failing-tests
        last = app.output_tail.strip().splitlines()[-1:] or ["(none)"]
        raise ProfileError(
            f"the app crashed ({_status(app.exit_code)}) while the tests ran; last output: {last[0][:200]}"
        )
    if failed and not options.allow_failing_tests:
        d = failed[0]
        code = "timed out" if d.exit_code is None and d.kind in ("test", "host-test") else _status(d.exit_code)
        last = d.output_tail.strip().splitlines()[-1:] or ["(no output)"]
        raise ProfileError(
            f"{d.kind} {d.command!r} failed ({code}); last line: {last[0][:200]}",
            hint="fix the tests, or pass --allow-failing-tests to keep the evidence anyway",
        )


def _status(code: int | None) -> str:
    """`exit 3`, or `killed by SIGSEGV` for a negative (signal) status."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit {code}"


def profile(
    ref: Any,
    options: ProfileOptions | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    catalog: Any = None,
) -> UsageReport:
    """Profile the image `ref` (a reference string, ImageRef or opened Image) with `options`' drivers.
    `catalog`: the image's catalog if the caller has it (owners come from it instead of a second catalog)."""
    options = options or ProfileOptions()
    if hasattr(ref, "rootfs") and hasattr(ref, "config"):
        image = ref
    else:
        from honed.image import open_image

        image = open_image(ref)
    root = Path(image.rootfs().root)
    result = run_drivers(image, options, progress=progress)
    check(result, options)
    if progress:
        progress("looking up owners")
    return report_from_runs(
        [result],
        rootfs=root,
        image_ref=str(image.ref),
        image_digest=str(image.manifest_digest or ""),
        image=image,
        owners=ownership(root, image, catalog) if catalog is not None else None,
    )
