"""`make bench`: every benchmark in bench/, one after another, each printing its own table.

Numbers from one machine are comparable only within one run (the peers run on the same input in the same
run); the README quotes the latest results, and bench/results/*.json keeps them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ("bench_sbom.py", "bench_db_scan.py", "bench_profile.py", "bench_harden.py", "bench_pipeline.py")


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n=== {name}", flush=True)
        t = time.monotonic()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"=== {name}: exit {rc} in {time.monotonic() - t:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
