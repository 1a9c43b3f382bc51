"""Database import and scan speed, side by side with syft on the same image.

    .venv/bin/python bench/bench_db_scan.py [IMAGE_NAME] [--json OUT] [--repeat N]

* import: `honed db import` of all of shared/vulndata into a fresh file (target ≤ 60 s);
* scan: `honed.vuln.scan.scan` of the fixture image (default node-app, the largest) with a warm database —
  cold (a fresh image cache: extraction + catalog + match) and warm (rootfs already cached), with the
  match step timed on its own (target ≤ 5 s);
* syft: `syft scan oci-dir:…` on the same image (cataloging only: grype, which would do the matching, is
  not installable here — the network reaches only Debian, PyPI and npm).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _t(fn):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("image", nargs="?", default="node-app")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    from tests.conftest import VULNDATA
    from tests.fixtures.build import ensure

    from honed.catalog import catalog_image
    from honed.vuln.db import import_sources, open_db
    from honed.vuln.match import match
    from honed.vuln.scan import scan

    res: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="honed-bench-") as tmp:
        dbp = Path(tmp) / "honed.db"
        secs, rep = _t(lambda: import_sources([VULNDATA], dbp))
        res["import_seconds"] = round(secs, 2)
        res["import"] = {"advisories": rep.advisories, "affected": rep.affected, "kev": rep.kev, "cvss": rep.cvss,
                         "db_bytes": dbp.stat().st_size, "digest": rep.digest}
        print(f"import of shared/vulndata: {secs:.1f} s ({rep.advisories} advisories, {rep.affected} affected rows, "
              f"{dbp.stat().st_size / 1e6:.0f} MB)")

        img = ensure(a.image)
        info = json.loads((Path(img.oci_dir).parent / "info.json").read_text()) if (
            Path(img.oci_dir).parent / "info.json").is_file() else {}
        res["image"] = {"name": a.image, "ref": img.ref, "unpacked_bytes": info.get("unpacked_bytes")}
        with open_db(dbp) as db:
            cache = Path(tmp) / "imgcache"
            cold_cat, cat = _t(lambda: catalog_image(img.ref, cache_dir=cache))
            cold_match, fs = _t(lambda: match(cat, None, db))
            shutil.rmtree(cache, ignore_errors=True)
            scan(img.ref, db)  # warm the default rootfs cache
            warm = []
            for _ in range(a.repeat):
                s, r = _t(lambda: scan(img.ref, db))
                warm.append(s)
            match_s = [(_t(lambda: match(cat, None, db)))[0] for _ in range(a.repeat)]
        res["scan"] = {
            "cold_catalog_seconds": round(cold_cat, 2), "cold_match_seconds": round(cold_match, 2),
            "cold_total_seconds": round(cold_cat + cold_match, 2),
            "warm_scan_seconds_median": round(statistics.median(warm), 2),
            "match_seconds_median": round(statistics.median(match_s), 3),
            "packages": len(cat.packages), "findings": len(fs),
        }
        print(f"scan {a.image} ({len(cat.packages)} packages, {len(fs)} findings): cold {cold_cat + cold_match:.1f} s "
              f"(catalog {cold_cat:.1f} + match {cold_match:.2f}), warm {statistics.median(warm):.2f} s, "
              f"match alone {statistics.median(match_s):.3f} s")

        syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
        if Path(syft).exists():
            oci = str(img.oci_dir)
            out = Path(tmp) / "syft.json"
            s, p = _t(lambda: subprocess.run([syft, "scan", f"oci-dir:{oci}", "-q", "-o", f"syft-json={out}"],
                                             capture_output=True))
            n = len(json.loads(out.read_text())["artifacts"]) if p.returncode == 0 else None
            ver = subprocess.run([syft, "version"], capture_output=True, text=True).stdout
            ver_line = next((ln for ln in ver.splitlines() if ln.startswith("Version")), "").split()[-1:] or ["?"]
            res["syft"] = {"version": ver_line[0], "seconds": round(s, 2), "packages": n,
                           "note": "cataloging only; grype is not available here"}
            print(f"syft {ver_line[0]} on the same image (catalog only): {s:.1f} s, {n} packages")
        else:
            res["syft"] = None
            print("syft not found")
    res["grype"] = "not available (cannot be installed: the network reaches only Debian, PyPI and npm)"
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
