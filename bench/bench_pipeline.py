"""Pipeline overhead per fixture image: total wall time of `run_pipeline` minus the time spent in the user's
own tests (every driver run: on the original and on each hardened candidate). Target: ≤ 60 s for a
300–450 MB image.

    .venv/bin/python bench/bench_pipeline.py [flask-app node-app nginx-site] [--db PATH] [--json OUT]

Uses the fixture images (tests/fixtures/build.py) and the advisory db built from shared/vulndata (built
once into ~/.cache/honed/test-db when --db is not given). Prints one line per image and the stage timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

DRIVERS: dict[str, dict[str, tuple[str, ...]]] = {
    "flask-app": {"tests": ("pytest /app/tests",), "http_probes": ("8000/health",)},
    "node-app": {"tests": ("node --test /app/test/",), "http_probes": ("3000/",)},
    "nginx-site": {"tests": (), "http_probes": ("80/",)},
}


def _db(path: str | None) -> Path:
    if path:
        return Path(path)
    from tests.conftest import VULNDATA

    import honed.vuln.db as vdb

    key = hashlib.sha256((VULNDATA / "SHA256SUMS").read_bytes() + Path(vdb.__file__).read_bytes()).hexdigest()[:16]
    p = Path.home() / ".cache" / "honed" / "test-db" / f"vulndata-{key}.db"
    if not p.is_file():
        vdb.import_sources([VULNDATA], p)
    return p


def bench_one(name: str, db: Path) -> dict[str, object]:
    from tests.fixtures.build import ensure

    from honed.pipeline import PipelineOptions, run_pipeline
    from honed.profile import ProfileOptions, parse_probe

    img = ensure(name)
    d = DRIVERS[name]
    popts = ProfileOptions(tests=tuple(d["tests"]), http_probes=tuple(parse_probe(x) for x in d["http_probes"]))
    with tempfile.TemporaryDirectory(prefix="honed-bench-") as tmp:
        t0 = time.monotonic()
        res = run_pipeline(img.ref, PipelineOptions(profile=popts, output=Path(tmp) / "rec", db=db))
        total = time.monotonic() - t0
    s = res.summary
    t = dict(s["timings"])
    tests = float(t["tests"])
    return {
        "image": name,
        "image_bytes": s["input_image"]["bytes"],
        "total_s": round(total, 1),
        "tests_s": round(tests, 1),
        "overhead_s": round(total - tests, 1),
        "stages_s": {k: round(float(v), 1) for k, v in t.items() if k not in ("tests", "overhead", "total")},
        "findings": [s["vulnerabilities"]["before_total"], s["vulnerabilities"]["after_total"]],
        "bytes": [s["bytes"]["before"], s["bytes"]["after"]],
        "repairs": s["verification"]["repairs"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", default=list(DRIVERS))
    ap.add_argument("--db")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    a = ap.parse_args()
    db = _db(a.db)
    rows = []
    for name in a.images:
        r = bench_one(name, db)
        rows.append(r)
        ok = "ok" if float(r["overhead_s"]) <= 60 else "OVER TARGET"  # type: ignore[arg-type]
        print(f"{name:<11} {int(r['image_bytes']) / 1e6:6.0f} MB  total {r['total_s']:6.1f} s  "  # type: ignore[call-overload]
              f"tests {r['tests_s']:5.1f} s  overhead {r['overhead_s']:5.1f} s  ({ok})  "
              f"findings {r['findings'][0]}→{r['findings'][1]}  bytes {r['bytes'][0]}→{r['bytes'][1]}")  # type: ignore[index]
        print("            stages: " + ", ".join(f"{k} {v}" for k, v in r["stages_s"].items()))  # type: ignore[attr-defined]
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
