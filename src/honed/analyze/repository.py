"""Is an upgrade target's fixed version in the Debian release's repository? (Optional: needs the network.)

The answer comes from the release's own package indexes (`dists/SUITE/main/binary-ARCH/Packages.xz`) for the
suite, its -updates and its -security suites. Indexes are cached for a day under ~/.cache/honed/repo. When
no index can be fetched the answer stays None ("unknown"), never an error: the network may be off.
"""

from __future__ import annotations

import json
import logging
import lzma
import os
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from honed.analyze.plan import Analysis, UpgradeTarget
from honed.atomic import atomic_write

log = logging.getLogger(__name__)

SECURITY_MIRROR = "http://deb.debian.org/debian-security"
MAX_AGE = 24 * 3600


def suites(codename: str, mirror: str, security_mirror: str) -> list[tuple[str, str]]:
    return [(mirror, codename), (mirror, f"{codename}-updates"), (security_mirror, f"{codename}-security")]


def parse_packages(text: str) -> dict[str, list[str]]:
    """Package → versions from a Packages index (only the two fields needed)."""
    out: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("Package:"):
            name = line[8:].strip()
        elif line.startswith("Version:") and name:
            out.setdefault(name, []).append(line[8:].strip())
        elif not line.strip():
            name = None
    return out


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "honed" / "repo"


def fetch_index(base: str, suite: str, arch: str, *, timeout: float = 20.0,
                cache_dir: Path | None = None) -> dict[str, list[str]] | None:
    url = f"{base.rstrip('/')}/dists/{suite}/main/binary-{arch}/Packages.xz"
    cache = (cache_dir or _cache_dir()) / (url.replace("://", "_").replace("/", "_") + ".json")
    try:
        if time.time() - cache.stat().st_mtime < MAX_AGE:
            return json.loads(cache.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        pass
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - a configured http(s) mirror
            data = lzma.decompress(resp.read())
    except (OSError, lzma.LZMAError) as e:
        log.info("cannot read %s: %s", url, e)
        return None
    index = parse_packages(data.decode("utf-8", "replace"))
    try:
        atomic_write(cache, json.dumps(index, sort_keys=True).encode())
    except OSError:
        pass
    return index


def check_upgrades(analysis: Analysis, *, mirror: str = "http://deb.debian.org/debian",
                   security_mirror: str = SECURITY_MIRROR, cache_dir: Path | None = None,
                   indexes: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> Analysis:
    """Fill `in_repository` / `repository_version` of the Debian upgrade targets."""
    from debian.debian_support import Version

    codename = analysis.distro.get("codename", "")
    if not codename or analysis.distro.get("id", "debian") != "debian":
        return analysis
    by_id = {d.id: d for d in analysis.decisions}
    arches = sorted({getattr(by_id[u.package_id].package.meta, "arch", "amd64") or "amd64"
                     for u in analysis.upgrades if u.ecosystem == "deb"} - {"all"}) or ["amd64"]
    loaded: list[Mapping[str, Sequence[str]]] = []
    if indexes is not None:
        loaded = list(indexes.values())
    else:
        for base, suite in suites(codename, mirror, security_mirror):
            for arch in arches:
                idx = fetch_index(base, suite, arch, cache_dir=cache_dir)
                if idx is not None:
                    loaded.append(idx)
    if not loaded:
        return analysis
    out: list[UpgradeTarget] = []
    for u in analysis.upgrades:
        if u.ecosystem != "deb":
            out.append(u)
            continue
        versions: Iterable[str] = [v for idx in loaded for v in idx.get(u.name, ())]
        best = max(versions, key=Version, default=None)
        if not u.fixed_version:  # no fix known: still worth saying that a newer build exists
            newer = best is not None and Version(best) > Version(u.version)
            out.append(replace(u, repository_version=best if newer else None))
            continue
        ok = best is not None and Version(best) >= Version(u.fixed_version)
        out.append(replace(u, in_repository=ok, repository_version=best))
    return replace(analysis, upgrades=tuple(out))
