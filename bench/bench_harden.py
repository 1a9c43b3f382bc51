"""Time of `honed harden` on the fixture images, profiling excluded. Target: ≤ 30 s for the biggest image.

Each image is profiled once (not timed) with its test suite; then the harden path runs `--repeat` times
twice: from a cold image cache (a fresh cache dir: layer extraction included) and warm (the extracted rootfs
cached, as it is after `honed profile` on the same machine), timed per phase: open + extract, catalog, vulnerability match, analyze, removal plan, image write. Prints a
table and writes bench/results/harden.json.

    python bench/bench_harden.py [--images flask-app,node-app] [--repeat N] [--db FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fixtures.build import ensure  # noqa: E402

from honed.analyze import AnalyzeOptions, analyze  # noqa: E402
from honed.catalog import catalog  # noqa: E402
from honed.harden.executor import compute_removal  # noqa: E402
from honed.image import open_image  # noqa: E402
from honed.image.writer import write_image  # noqa: E402
from honed.profile import ProfileOptions, profile  # noqa: E402
from honed.vuln.db import import_sources, open_db  # noqa: E402
from honed.vuln.scan import scan  # noqa: E402

SUITES = {"flask-app": "pytest /app/tests", "node-app": "node --test /app/test/"}
PHASES = ("open+extract", "catalog", "match", "analyze", "plan", "write", "total")


def once(ref: str, usage: object, db_path: Path, work: Path) -> tuple[dict[str, float], dict[str, int]]:
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    image = open_image(ref, cache_dir=work / "cache")
    fs = image.rootfs()
    t["open+extract"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    cat = catalog(fs, image=image)
    t["catalog"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    with open_db(db_path) as db:
        findings = scan(cat, db).findings
    t["match"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    a = analyze(cat, findings, usage, AnalyzeOptions(rootfs=fs, image_ref=str(image.ref),
                                                   image_digest=str(image.manifest_digest),
                                                   image_config=image.config))
    t["analyze"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    plan = compute_removal(fs, a)
    t["plan"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    write_image(image, f"oci:{work / 'out'}:hardened", drop_paths=plan.drop, replace_files=dict(plan.replace),
                force=True)
    t["write"] = time.perf_counter() - t1
    t["total"] = time.perf_counter() - t0
    unpacked = sum(i.size for i in fs.walk("/") if i.kind == "file")
    return t, {"packages": len(cat.packages), "removed": len(a.removed), "paths_dropped": len(plan.drop),
               "unpacked_bytes": unpacked, "bytes_dropped": plan.dropped_bytes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="flask-app,node-app")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", type=Path, help="advisory db (default: built from ../shared/vulndata into a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="honed-bench-harden-") as tmp:
        db_path = args.db
        if db_path is None:
            db_path = Path(tmp) / "honed.db"
            import_sources([ROOT.parent / "shared" / "vulndata"], db_path)
        results: dict[str, dict[str, Any]] = {}
        for name in args.images.split(","):
            img = ensure(name)
            usage = profile(img.ref, ProfileOptions(tests=(SUITES[name],)))
            cold, warm = [], []
            figures: dict[str, int] = {}
            for i in range(args.repeat):
                work = Path(tmp) / f"{name}-{i}"
                t, figures = once(img.ref, usage, db_path, work)  # fresh cache: layers extracted
                cold.append(t)
                t, figures = once(img.ref, usage, db_path, work)  # as after `honed profile`: rootfs cached
                warm.append(t)
            results[name] = {"runs": len(cold), **figures}
            for label, runs in (("cold", cold), ("warm", warm)):
                med = {p: round(statistics.median(r[p] for r in runs), 2) for p in PHASES}
                results[name][f"median_seconds_{label}"] = med
                print(f"{name} ({label}): {figures['unpacked_bytes'] / 1e6:.0f} MB unpacked, "
                      f"{figures['packages']} packages, {figures['removed']} removed; "
                      + ", ".join(f"{p} {med[p]:.1f}s" for p in PHASES))
    out = ROOT / "bench" / "results" / "harden.json"
    out.write_text(json.dumps({"target_seconds": 30, "results": results}, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["median_seconds_warm"]["total"] <= 30 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
