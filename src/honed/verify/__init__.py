"""Stage 4: verify a hardened image against its original.

    verify_images(original_ref, hardened_ref, VerifyOptions(profile=ProfileOptions(tests=(...))))

Functional: the same drivers run against the hardened image (traced for failed lookups); when they fail, the
evidence is mapped to the packages that are in the original and not in the hardened image, and the report
says which ones to put back (the pipeline's repair loop does it automatically: honed.verify.loop).
Security: both images are scanned; the delta by severity, packages and bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VerifyOptions:
    profile: Any  # honed.profile.ProfileOptions
    db: Path | None = None
    trace: str = "strace"
    rescan: bool = True


@dataclass(frozen=True)
class VerifyReport:
    original: dict[str, Any]
    hardened: dict[str, Any]
    check: Any  # loop.CheckRun
    decision: Any  # repair.RepairDecision (empty when the run passed)
    delta: Any  # delta.Delta or None
    removed: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.check.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "honed.verify/v1",
            "ok": self.ok,
            "original": self.original,
            "hardened": self.hardened,
            "drivers": [
                {"kind": d.kind, "command": d.command, "ok": d.ok, "exit_code": d.exit_code,
                 "seconds": round(d.seconds, 3), "output_tail": d.output_tail}
                for d in self.check.drivers
            ],
            "error": self.check.error,
            "missing": list(self.check.missing())[:500],
            "repair_suggestion": self.decision.as_dict() if self.decision is not None else None,
            "vulnerabilities": self.delta.as_dict() if self.delta is not None else None,
            "packages_removed": list(self.removed),
        }


def verify_images(original: Any, hardened: Any, options: VerifyOptions, *,
                  progress: Progress | None = None) -> VerifyReport:
    from honed.catalog import catalog
    from honed.image import open_image
    from honed.pipeline import image_bytes
    from honed.verify.delta import delta
    from honed.verify.evidence import RemovedIndex
    from honed.verify.loop import run_checks
    from honed.verify.repair import decide

    say = progress or (lambda _m: None)
    img_o = original if hasattr(original, "rootfs") else open_image(original)
    img_h = hardened if hasattr(hardened, "rootfs") else open_image(hardened)
    say("cataloguing both images")
    cat_o = catalog(img_o.rootfs(), image=img_o)
    cat_h = catalog(img_h.rootfs(), image=img_h)
    kept = {(p.ecosystem, p.name) for p in cat_h.packages}
    gone = [p for p in cat_o.packages if (p.ecosystem, p.name) not in kept]
    say("running the drivers against the hardened image")
    chk = run_checks(img_h, options.profile, trace=options.trace, progress=progress)
    dec = decide(chk.drivers, RemovedIndex((p.name, p.files) for p in gone), paths=chk.paths,
                 extra_output=chk.error or "")
    dl = None
    if options.rescan:
        from honed.vuln.db import open_db
        from honed.vuln.scan import scan

        say("scanning both images")
        db = open_db(options.db)
        dl = delta(scan(cat_o, db).findings, scan(cat_h, db).findings)

    def info(img: Any, cat: Any) -> dict[str, Any]:
        return {"ref": str(img.ref), "digest": str(img.manifest_digest or ""), "bytes": image_bytes(img),
                "packages": len(cat.packages)}

    return VerifyReport(info(img_o, cat_o), info(img_h, cat_h), chk, dec, dl,
                        tuple(sorted({p.name for p in gone})))
