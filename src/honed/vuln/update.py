"""`honed db update`: download the public exports and rebuild the database atomically.

Defaults: OSV.dev's per-ecosystem `all.zip` exports for the ecosystems honed catalogs, and CISA's KEV
catalogue. Any URL list can replace them (`--source`, or HONED_DB_SOURCES, whitespace-separated).

Each download is retried (3 attempts, backoff) on network errors and 5xx; a 4xx fails at once. Checksums
are verified when one is available: a `#sha256=HEX` fragment on the URL, or a `SHA256SUMS` file beside
it on the server that lists the file. Everything lands in a temp directory; the database is rebuilt into
a temp file and renamed over the old one only when all of it succeeded — a failed update leaves the old
database as it was.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from honed.errors import DatabaseError
from honed.vuln.db import ImportReport, default_db_path, import_sources

log = logging.getLogger(__name__)

OSV_BASE = "https://osv-vulnerabilities.storage.googleapis.com"
OSV_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm", "Maven", "Go", "crates.io")
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
DEFAULT_SOURCES = tuple(f"{OSV_BASE}/{urllib.parse.quote(e)}/all.zip" for e in OSV_ECOSYSTEMS) + (KEV_URL,)
ENV_SOURCES = "HONED_DB_SOURCES"


def configured_sources(explicit: Sequence[str] = ()) -> tuple[str, ...]:
    if explicit:
        return tuple(explicit)
    env = os.environ.get(ENV_SOURCES, "").split()
    return tuple(env) if env else DEFAULT_SOURCES


class _Fatal(Exception):
    pass


def _fetch(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "honed-db-update"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data: bytes = r.read()
        return data


def _download(url: str, *, attempts: int, timeout: float, backoff: float) -> bytes:
    last: Exception | None = None
    for n in range(attempts):
        try:
            return _fetch(url, timeout)
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:
                raise _Fatal(f"{url}: HTTP {e.code}") from e
            last = e
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            last = e
        if n + 1 < attempts:
            log.info("retrying %s after %s", url, last)
            time.sleep(backoff * (2**n))
    raise _Fatal(f"{url}: {getattr(last, 'reason', last)} (after {attempts} attempts)")


def _sums_for(url: str, cache: dict[str, dict[str, str] | None], timeout: float) -> dict[str, str] | None:
    base = url.rsplit("/", 1)[0]
    if base not in cache:
        try:
            text = _fetch(base + "/SHA256SUMS", timeout).decode("utf-8", "replace")
            cache[base] = {
                ln.split()[1].lstrip("*"): ln.split()[0].lower() for ln in text.splitlines() if len(ln.split()) == 2
            }
        except (urllib.error.URLError, OSError, ValueError):
            cache[base] = None
    return cache[base]


def _local_name(url: str, n: int) -> str:
    p = urllib.parse.urlsplit(url).path
    parts = [urllib.parse.unquote(x) for x in p.split("/") if x]
    name = parts[-1] if parts else f"source-{n}"
    if name == "all.zip" and len(parts) >= 2:  # OSV exports are all called all.zip: keep the ecosystem
        name = f"{parts[-2]}-all.zip"
    return f"{n:02d}-{name}"


def update(
    db_path: Path | str | None = None,
    sources: Sequence[str] = (),
    *,
    attempts: int = 3,
    timeout: float = 120.0,
    backoff: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    dest = Path(db_path) if db_path else default_db_path()
    urls = configured_sources(sources)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".honed-update.", dir=dest.parent))
    sums_cache: dict[str, dict[str, str] | None] = {}
    try:
        files: list[Path] = []
        for n, raw in enumerate(urls):
            url, _, frag = raw.partition("#")
            if progress:
                progress(url)
            try:
                data = _download(url, attempts=attempts, timeout=timeout, backoff=backoff)
            except _Fatal as e:
                raise DatabaseError(f"update failed: {e}; the previous database is unchanged") from e
            want = frag.removeprefix("sha256=").lower() if frag.startswith("sha256=") else None
            if want is None:
                sums = _sums_for(url, sums_cache, timeout)
                want = (sums or {}).get(urllib.parse.unquote(url.rsplit("/", 1)[-1]))
            got = hashlib.sha256(data).hexdigest()
            if want and want != got:
                raise DatabaseError(
                    f"update failed: checksum mismatch for {url} (expected {want}, got {got}); "
                    "the previous database is unchanged"
                )
            if not want:
                log.info("%s: no checksum published; sha256 %s", url, got)
            f = tmp / _local_name(url, n)
            f.write_bytes(data)
            files.append(f)
        try:
            return import_sources(files, dest)
        except DatabaseError:
            raise
        except Exception as e:
            raise DatabaseError(f"update failed while importing: {e}; the previous database is unchanged") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
