"""Tracing overhead of `honed profile`: the same test run untraced, under fanotify, and under strace, in one run.

For each image, the in-image test suite runs in a fresh sandbox `--repeat` times per tracer (interleaved, so
machine load hits all alike); the figure is the median of the test command's own wall time, and the ratio is
traced / untraced. Target: fanotify ≤ 1.3×. Also reports the whole run (sandbox, app start, drivers, stop) and
the evidence each tracer gathered. The image's app is replaced by a sleeper (the suites do not need the live
server), so no fixed port can collide with other runs on a shared machine. Prints a table and writes bench/results/profile.json.

    python bench/bench_profile.py [--images flask-app,node-app] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fixtures.build import ensure  # noqa: E402

from honed.image import open_image  # noqa: E402
from honed.profile import ProfileOptions, run_drivers  # noqa: E402

SUITES = {
    "flask-app": "python3 -m pytest -q -p no:cacheprovider /app/tests",
    "node-app": "node --test /app/test/",
}
TRACERS = ("none", "fanotify", "strace")


def bench(name: str, repeat: int) -> dict[str, object]:
    cmd = SUITES[name]
    image = open_image(ensure(name).ref)
    image.rootfs()  # extract once, outside the measurements
    # The suite is what is measured, so the app itself is replaced by a sleeper: no fixed port to collide with
    # other runs on a shared machine (the suites use Flask's/express's test clients, not the live server).
    opts = ProfileOptions(tests=(cmd,), command=("sleep", "3600"), stop_grace=0.5)
    test_s: dict[str, list[float]] = {t: [] for t in TRACERS}
    run_s: dict[str, list[float]] = {t: [] for t in TRACERS}
    files: dict[str, int] = {}
    run_drivers(image, opts, trace="none")  # warm the page cache
    for _ in range(repeat):
        for t in TRACERS:
            r = run_drivers(image, opts, trace=t)
            assert r.ok, (t, r.error, r.drivers)
            test_s[t].append(next(d.seconds for d in r.drivers if d.kind == "test"))
            run_s[t].append(r.seconds)
            files[t] = len(r.paths)
    med = {t: statistics.median(v) for t, v in test_s.items()}
    return {
        "image": name,
        "test": cmd,
        "repeat": repeat,
        "test_seconds_median": {t: round(v, 3) for t, v in med.items()},
        "run_seconds_median": {t: round(statistics.median(v), 3) for t, v in run_s.items()},
        "ratio_fanotify": round(med["fanotify"] / med["none"], 3),
        "ratio_strace": round(med["strace"] / med["none"], 3),
        "paths_recorded": files,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="flask-app,node-app")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "profile.json")
    args = ap.parse_args(argv)
    rows = [bench(n, args.repeat) for n in args.images.split(",")]
    print(f"{'image':<10} {'untraced s':>10} {'fanotify s':>10} {'strace s':>9} {'fan ×':>6} {'strace ×':>8}")
    for r in rows:
        m = r["test_seconds_median"]
        assert isinstance(m, dict)
        print(
            f"{r['image']:<10} {m['none']:>10.3f} {m['fanotify']:>10.3f} {m['strace']:>9.3f} "
            f"{r['ratio_fanotify']:>6.2f} {r['ratio_strace']:>8.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
