"""The advisory database: one SQLite file, built from OSV records, the CISA KEV catalogue and CVSS tables.

Layout (schema "honed.vulndb", version `SCHEMA_VERSION`):

* `advisory(id, aliases, related, summary, details, cvss_vector, cvss_score, qual_severity, malicious,
  published, modified, source, refs)` — one row per OSV record (withdrawn records are not stored).
* `affected(ecosystem, name, advisory, ranges, versions, urgency)` — one row per (record, package), indexed
  by (ecosystem, normalised name): the matcher does one index lookup per package. `ranges` is a compact
  JSON list of intervals `[type, introduced, fixed, last_affected]` (type "E"cosystem or "S"emver; "" for
  an absent bound), so a match is a few comparisons with no event walking. `versions` is the OSV explicit
  list — dropped for distro ecosystems when an ECOSYSTEM range exists, because there it is OSV.dev's
  enumeration of archive versions *derived* from that range (7.4 M strings for Debian alone).
* `kev(cve, …)`, `cvss(cve, source, type, vector, score)`, `source(…)` (one row per imported input) and
  `meta(key, value)` (schema, built_at, digest).

A build always goes to a temp file beside the target, with journaling off and one transaction, and is
renamed over the old file only once complete: a failed import or update leaves the previous db as it was.
The content digest hashes what is stored (not file names or formats), sorted, so the same records give the
same digest however they were packaged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from packaging.utils import canonicalize_name

from honed.errors import DatabaseError, OutputError, UserError
from honed.vuln.severity import cvss_score

log = logging.getLogger(__name__)

SCHEMA_NAME = "honed.vulndb"
SCHEMA_VERSION = "1"
ENV_DB = "HONED_DB"

# distro ecosystems whose `versions` lists are enumerations of their ranges (see module doc)
_DISTRO_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE")


def default_db_path() -> Path:
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "honed" / "db" / "honed.db"


def normalise_name(ecosystem: str, name: str) -> str:
    """The key a package name is stored and looked up under: PEP 503 for PyPI, exact elsewhere."""
    if ecosystem == "PyPI":
        return canonicalize_name(name)
    return name


# --------------------------------------------------------------------------------------------- schema

_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE source(name TEXT, kind TEXT, records INTEGER, corrupt INTEGER, withdrawn INTEGER,
                    duplicates INTEGER, sha256 TEXT, newest TEXT);
CREATE TABLE advisory(id TEXT PRIMARY KEY, aliases TEXT, related TEXT, summary TEXT, details TEXT,
                      cvss_vector TEXT, cvss_score REAL, qual_severity TEXT, malicious INTEGER,
                      published TEXT, modified TEXT, source TEXT, refs TEXT) WITHOUT ROWID;
CREATE TABLE affected(ecosystem TEXT NOT NULL, name TEXT NOT NULL, advisory TEXT NOT NULL,
                      ranges TEXT, versions TEXT, urgency TEXT);
CREATE TABLE kev(cve TEXT PRIMARY KEY, date_added TEXT, name TEXT, ransomware TEXT) WITHOUT ROWID;
CREATE TABLE cvss(cve TEXT NOT NULL, source TEXT, type TEXT, vector TEXT, score REAL);
"""
_INDEXES = """
CREATE INDEX affected_pkg ON affected(ecosystem, name);
CREATE INDEX cvss_cve ON cvss(cve);
"""


# ------------------------------------------------------------------------------------- reading inputs


@dataclass
class SourceStats:
    name: str
    kind: str = "osv"
    records: int = 0
    corrupt: int = 0
    withdrawn: int = 0
    duplicates: int = 0
    sha256: str = ""
    newest: str = ""


@dataclass
class ImportReport:
    path: Path
    sources: list[SourceStats] = field(default_factory=list)
    advisories: int = 0
    affected: int = 0
    kev: int = 0
    cvss: int = 0
    digest: str = ""
    seconds: float = 0.0


class _Hashing(io.RawIOBase):
    """Wraps a binary file and hashes the bytes read through it (the sha256 recorded per source)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self.h.update(data)
        return n


def _open_text(raw: io.RawIOBase) -> IO[str]:
    buf = io.BufferedReader(raw, 1 << 20)
    if buf.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=buf), encoding="utf-8", errors="replace")  # type: ignore[arg-type]
    return io.TextIOWrapper(buf, encoding="utf-8", errors="replace")


def _expand(sources: Iterable[Path | str]) -> list[Path]:
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and re.search(r"\.(json|jsonl|zip|tsv)(\.gz)?$", f.name):
                    out.append(f)
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"advisory source {s} does not exist")
    return out


# ------------------------------------------------------------------------------------------ the builder


class _Builder:
    def __init__(self) -> None:
        self.adv: dict[str, tuple[tuple[Any, ...], list[tuple[Any, ...]]]] = {}
        self.kev: dict[str, tuple[Any, ...]] = {}
        self.cvss: set[tuple[Any, ...]] = set()
        self.stats: list[SourceStats] = []
        self._score: Callable[[str], float | None] = cvss_score

    # -- OSV ---------------------------------------------------------------------------------------
    def add_osv(self, rec: Any, st: SourceStats) -> None:
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            st.corrupt += 1
            return
        if rec.get("withdrawn"):
            st.withdrawn += 1
            return
        rid: str = rec["id"]
        modified = str(rec.get("modified") or "")
        old = self.adv.get(rid)
        if old is not None:
            st.duplicates += 1
            if old[0][10] >= modified:  # keep the newest copy of an id seen in two sources
                return
        try:
            row, aff = self._osv_rows(rec, st.name)
        except (TypeError, AttributeError, KeyError, ValueError):
            st.corrupt += 1
            return
        st.records += 1
        if modified > st.newest:
            st.newest = modified
        self.adv[rid] = (row, aff)

    def _osv_rows(self, rec: dict[str, Any], source: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rid = rec["id"]
        vectors: dict[str, str] = {}
        for s in rec.get("severity") or ():
            vectors.setdefault(s["type"], s["score"])
        aff_rows: list[tuple[Any, ...]] = []
        dbs = rec.get("database_specific") or {}
        malicious = rid.startswith("MAL-") or (isinstance(dbs, dict) and "malicious-packages-origins" in dbs)
        for a in rec.get("affected") or ():
            pkg = a.get("package") or {}
            eco, name = pkg.get("ecosystem"), pkg.get("name")
            if not eco or not name:
                continue  # upstream GIT-only entries name no package
            for s in a.get("severity") or ():
                vectors.setdefault(s["type"], s["score"])
            ivs: list[list[str]] = []
            for r in a.get("ranges") or ():
                t = r.get("type")
                if t not in ("ECOSYSTEM", "SEMVER"):
                    continue  # GIT ranges name commits; the versions list covers them
                code = "E" if t == "ECOSYSTEM" else "S"
                cur: list[str] | None = None
                for ev in r.get("events") or ():
                    if "introduced" in ev:
                        if cur is not None:
                            ivs.append(cur)
                        cur = [code, str(ev["introduced"]), "", ""]
                    elif "fixed" in ev or "last_affected" in ev:
                        if cur is None:
                            cur = [code, "0", "", ""]
                        if "fixed" in ev:
                            cur[2] = str(ev["fixed"])
                        else:
                            cur[3] = str(ev["last_affected"])
                        ivs.append(cur)
                        cur = None
                    # "limit" events only bound GIT walks; nothing to store
                if cur is not None:
                    ivs.append(cur)
            versions = [str(v) for v in a.get("versions") or ()]
            base = eco.split(":", 1)[0]
            if versions and base in _DISTRO_ECOSYSTEMS and any(iv[0] == "E" for iv in ivs):
                versions = []
            if not ivs and not versions:
                continue
            es = a.get("ecosystem_specific") or {}
            urgency = es.get("urgency", "") if isinstance(es, dict) else ""
            aff_rows.append(
                (
                    eco,
                    normalise_name(eco, name),
                    rid,
                    json.dumps(ivs, separators=(",", ":")) if ivs else "",
                    json.dumps(versions, separators=(",", ":")) if versions else "",
                    str(urgency or ""),
                )
            )
        vec = vectors.get("CVSS_V3") or vectors.get("CVSS_V4") or ""
        qual = dbs.get("severity", "") if isinstance(dbs, dict) else ""
        refs = [r["url"] for r in rec.get("references") or () if isinstance(r, dict) and r.get("url")]
        row = (
            rid,
            " ".join(sorted({str(x) for x in rec.get("aliases") or ()})),
            " ".join(sorted({str(x) for x in rec.get("related") or ()})),
            str(rec.get("summary") or ""),
            str(rec.get("details") or "")[:2000],
            vec,
            self._score(vec) if vec else None,
            str(qual or "").upper(),
            1 if malicious else 0,
            str(rec.get("published") or ""),
            str(rec.get("modified") or ""),
            source,
            json.dumps(refs[:10], separators=(",", ":")),
        )
        return row, aff_rows

    # -- inputs ------------------------------------------------------------------------------------
    def add_path(self, path: Path) -> None:
        st = SourceStats(name=path.name)
        self.stats.append(st)
        with path.open("rb") as f0:
            hf = _Hashing(f0)
            if path.suffix == ".zip" or f0.read(2) == b"PK":
                f0.seek(0)
                st.kind = "osv-zip"
                self._add_zip(f0, st)
                f0.seek(0)
                st.sha256 = hashlib.file_digest(f0, "sha256").hexdigest()
                return
            f0.seek(0)
            text = _open_text(hf)
            name = re.sub(r"\.gz$", "", path.name)
            first = text.readline()
            if name.endswith(".tsv") or "\t" in first:
                self._add_tsv(first, text, st)
            elif name.endswith(".jsonl"):
                st.kind = "osv-jsonl"
                self._add_lines(first, text, st)
            else:
                doc_text = first + text.read()
                try:
                    doc = json.loads(doc_text)
                except ValueError:
                    # maybe JSON Lines without the suffix
                    st.kind = "osv-jsonl"
                    self._add_lines("", io.StringIO(doc_text), st)
                else:
                    self._add_doc(doc, st)
            for _ in iter(lambda: hf.read(1 << 20), b""):  # hash whatever the parser did not read
                pass
            st.sha256 = hf.h.hexdigest()

    def _add_lines(self, first: str, text: Iterable[str], st: SourceStats) -> None:
        loads = json.loads
        for line in _chain(first, text):
            if not line.strip():
                continue
            try:
                rec = loads(line)
            except ValueError:
                st.corrupt += 1
                continue
            self.add_osv(rec, st)

    def _add_doc(self, doc: Any, st: SourceStats) -> None:
        if isinstance(doc, dict) and "vulnerabilities" in doc and "catalogVersion" in doc:
            st.kind = "kev"
            st.newest = str(doc.get("dateReleased") or doc.get("catalogVersion") or "")
            for v in doc["vulnerabilities"]:
                cve = v.get("cveID") if isinstance(v, dict) else None
                if not cve:
                    st.corrupt += 1
                    continue
                st.records += 1
                self.kev[cve] = (
                    cve,
                    str(v.get("dateAdded") or ""),
                    str(v.get("vulnerabilityName") or ""),
                    str(v.get("knownRansomwareCampaignUse") or ""),
                )
            return
        recs = doc if isinstance(doc, list) else [doc]
        if not any(isinstance(r, dict) and "id" in r for r in recs):
            st.kind = "unrecognised (skipped)"  # e.g. a manifest such as vulndata's sources.json
            return
        st.kind = "osv-json"
        for rec in recs:
            self.add_osv(rec, st)

    def _add_zip(self, f: IO[bytes], st: SourceStats) -> None:
        try:
            zf = zipfile.ZipFile(f)
        except zipfile.BadZipFile as e:
            raise UserError(f"{st.name}: not a readable zip archive ({e})") from e
        with zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                try:
                    rec = json.loads(zf.read(info))
                except (ValueError, zipfile.BadZipFile, OSError):
                    st.corrupt += 1
                    continue
                self.add_osv(rec, st)

    def _add_tsv(self, header: str, text: Iterable[str], st: SourceStats) -> None:
        cols = header.rstrip("\n").split("\t")
        if cols[:4] == ["cve", "source_record", "type", "score"]:
            st.kind = "cvss"
            for line in text:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 4 or not parts[0].startswith("CVE-"):
                    st.corrupt += 1
                    continue
                cve, src, typ, vec = parts
                score = self._score(vec) if typ.startswith("CVSS") else None
                self.cvss.add((cve, src, typ, vec, score))
                st.records += 1
        elif "source_package" in cols and "fixed_version" in cols:
            # built from the Debian OSV files themselves; importing those gives the same facts
            st.kind = "derived-index (skipped)"
            for _ in text:
                pass
        else:
            raise UserError(f"{st.name}: unrecognised table (header {cols[:4]})")

    # -- writing -----------------------------------------------------------------------------------
    def write(self, path: Path, built_at: str) -> tuple[str, int]:
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("PRAGMA page_size=8192")
            con.executescript(_DDL)
            con.execute("BEGIN")
            ids = sorted(self.adv)
            con.executemany("INSERT INTO advisory VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (self.adv[i][0] for i in ids))
            n_aff = 0
            aff_rows: list[tuple[Any, ...]] = []
            digest = hashlib.sha256()
            for i in ids:
                row, aff = self.adv[i]
                aff_rows.extend(aff)
                n_aff += len(aff)
                # the source file name is provenance, not content: leave it out of the digest
                digest.update(json.dumps([row[:11], row[12], aff], separators=(",", ":")).encode())
                digest.update(b"\n")
            con.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", aff_rows)
            kev_rows = [self.kev[k] for k in sorted(self.kev)]
            con.executemany("INSERT INTO kev VALUES (?,?,?,?)", kev_rows)
            cvss_rows = sorted(self.cvss, key=lambda r: (r[0], r[1], r[2], r[3]))
            con.executemany("INSERT INTO cvss VALUES (?,?,?,?,?)", cvss_rows)
            digest.update(json.dumps(kev_rows, separators=(",", ":")).encode())
            digest.update(json.dumps([r[:4] for r in cvss_rows], separators=(",", ":")).encode())
            dg = "sha256:" + digest.hexdigest()
            con.executemany(
                "INSERT INTO source VALUES (?,?,?,?,?,?,?,?)",
                [
                    (s.name, s.kind, s.records, s.corrupt, s.withdrawn, s.duplicates, s.sha256, s.newest)
                    for s in self.stats
                ],
            )
            con.executemany(
                "INSERT INTO meta VALUES (?,?)",
                [("schema", SCHEMA_NAME), ("schema_version", SCHEMA_VERSION), ("built_at", built_at),
                 ("digest", dg)],
            )
            con.execute("COMMIT")
            con.executescript(_INDEXES)
            con.execute("ANALYZE")
        finally:
            con.close()
        return dg, n_aff


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def import_sources(
    sources: Iterable[Path | str],
    db_path: Path | str | None = None,
    *,
    now: Callable[[], dt.datetime] = _now,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Build a database from exactly these sources and swap it in atomically."""
    import time

    t0 = time.monotonic()
    dest = Path(db_path) if db_path else default_db_path()
    paths = _expand(sources)
    if not paths:
        raise UserError("no advisory files found in the given sources")
    b = _Builder()
    for p in paths:
        if progress:
            progress(p.name)
        log.info("importing %s", p)
        try:
            b.add_path(p)
        except OSError as e:
            raise UserError(f"cannot read advisory source {p}: {e}") from e
        except EOFError as e:
            raise UserError(f"advisory source {p} is truncated: {e}") from e
    if not b.adv and not b.kev and not b.cvss:
        raise UserError("the sources held no advisory records", hint="check the paths")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as e:
        raise OutputError(f"cannot write {dest}: {e.strerror or e}") from e
    os.close(fd)
    try:
        built_at = now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest, n_aff = b.write(Path(tmp), built_at)
        os.chmod(tmp, 0o644)
        try:
            os.replace(tmp, dest)
        except OSError as e:  # e.g. --db names a directory
            raise OutputError(f"cannot write {dest}: {e.strerror or e}") from e
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    rep = ImportReport(path=dest, sources=b.stats, advisories=len(b.adv), affected=n_aff, kev=len(b.kev),
                       cvss=len(b.cvss), digest=digest, seconds=time.monotonic() - t0)
    for s in b.stats:
        if s.corrupt:
            log.warning("%s: skipped %d corrupt record(s)", s.name, s.corrupt)
    return rep


# ----------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class AffectedRow:
    ecosystem: str
    name: str
    advisory: str
    ranges: tuple[tuple[str, str, str, str], ...]
    versions: tuple[str, ...]
    urgency: str


@dataclass(frozen=True, slots=True)
class AdvisoryRow:
    id: str
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    summary: str
    details: str
    cvss_vector: str
    cvss_score: float | None
    qual_severity: str
    malicious: bool
    published: str
    modified: str
    source: str
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DbStatus:
    path: str
    digest: str
    built_at: str
    age_days: float
    stale: bool
    max_age_days: float
    advisories: int
    affected: int
    kev: int
    cvss: int
    ecosystems: dict[str, int]
    sources: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "digest": self.digest, "built_at": self.built_at,
            "age_days": round(self.age_days, 2), "stale": self.stale, "max_age_days": self.max_age_days,
            "counts": {"advisories": self.advisories, "affected": self.affected, "kev": self.kev,
                       "cvss": self.cvss},
            "ecosystems": self.ecosystems, "sources": list(self.sources),
        }


class Database:
    """A read-only handle on a built database. Cheap lookups by (ecosystem, name)."""

    def __init__(self, path: Path, con: sqlite3.Connection, meta: dict[str, str]) -> None:
        self.path = path
        self._con = con
        self.meta = meta
        self.digest = meta.get("digest", "")
        self.built_at = meta.get("built_at", "")
        self._ecos: tuple[str, ...] | None = None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _q(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query; a database damaged past what open_db checks is a DatabaseError, not a crash."""
        try:
            return self._con.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as e:
            raise DatabaseError(f"{self.path} is damaged ({e})", hint=_HINT) from e

    def ecosystems(self) -> tuple[str, ...]:
        if self._ecos is None:
            self._ecos = tuple(r[0] for r in self._q("SELECT DISTINCT ecosystem FROM affected ORDER BY 1"))
        return self._ecos

    def affected(self, ecosystem: str, name: str) -> list[AffectedRow]:
        out = []
        for eco, nm, adv, ranges, versions, urgency in self._q(
            "SELECT ecosystem, name, advisory, ranges, versions, urgency FROM affected "
            "WHERE ecosystem=? AND name=?",
            (ecosystem, normalise_name(ecosystem, name)),
        ):
            out.append(
                AffectedRow(
                    eco, nm, adv,
                    tuple(tuple(iv) for iv in json.loads(ranges)) if ranges else (),  # type: ignore[misc]
                    tuple(json.loads(versions)) if versions else (),
                    urgency or "",
                )
            )
        return out

    def advisories(self, ids: Iterable[str]) -> dict[str, AdvisoryRow]:
        ids = sorted(set(ids))
        out: dict[str, AdvisoryRow] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT * FROM advisory WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self._q(q, chunk):
                out[r[0]] = AdvisoryRow(
                    r[0], tuple(r[1].split()) if r[1] else (), tuple(r[2].split()) if r[2] else (),
                    r[3] or "", r[4] or "", r[5] or "", r[6], r[7] or "", bool(r[8]), r[9] or "",
                    r[10] or "", r[11] or "", tuple(json.loads(r[12])) if r[12] else (),
                )
        return out

    def kev(self, cves: Iterable[str]) -> set[str]:
        cves = sorted(set(cves))
        out: set[str] = set()
        for i in range(0, len(cves), 500):
            chunk = cves[i : i + 500]
            q = f"SELECT cve FROM kev WHERE cve IN ({','.join('?' * len(chunk))})"
            out.update(r[0] for r in self._q(q, chunk))
        return out

    def cvss(self, cves: Iterable[str]) -> dict[str, list[tuple[str, str, str, float | None]]]:
        cves = sorted(set(cves))
        out: dict[str, list[tuple[str, str, str, float | None]]] = {}
        for i in range(0, len(cves), 500):
            chunk = cves[i : i + 500]
            q = f"SELECT cve, source, type, vector, score FROM cvss WHERE cve IN ({','.join('?' * len(chunk))})"
            for cve, src, typ, vec, score in self._q(q, chunk):
                out.setdefault(cve, []).append((src, typ, vec, score))
        return out

    def status(self, *, max_age_days: float = 7.0, now: Callable[[], dt.datetime] = _now) -> DbStatus:
        ecos: dict[str, int] = {}
        for eco, n in self._q("SELECT ecosystem, COUNT(DISTINCT advisory) FROM affected GROUP BY ecosystem"):
            ecos[eco] = n
        srcs = tuple(
            {"name": r[0], "kind": r[1], "records": r[2], "corrupt_skipped": r[3], "withdrawn_skipped": r[4],
             "duplicates": r[5], "sha256": r[6], "newest_record": r[7]}
            for r in self._q("SELECT * FROM source ORDER BY name")
        )
        try:
            built = dt.datetime.strptime(self.built_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            age = (now() - built).total_seconds() / 86400
        except ValueError:
            age = float("inf")
        return DbStatus(
            path=str(self.path), digest=self.digest, built_at=self.built_at, age_days=age,
            stale=age > max_age_days, max_age_days=max_age_days,
            advisories=self._q("SELECT COUNT(*) FROM advisory")[0][0],
            affected=self._q("SELECT COUNT(*) FROM affected")[0][0],
            kev=self._q("SELECT COUNT(*) FROM kev")[0][0],
            cvss=self._q("SELECT COUNT(*) FROM cvss")[0][0],
            ecosystems=ecos, sources=srcs,
        )


_SHAPE = (
    "SELECT ecosystem, name, advisory, ranges, versions, urgency FROM affected LIMIT 1",
    "SELECT id, aliases, related, summary, details, cvss_vector, cvss_score, qual_severity, malicious, published,"
    " modified, source, refs FROM advisory LIMIT 0",
    "SELECT cve, date_added, name, ransomware FROM kev LIMIT 0",
    "SELECT cve, source, type, vector, score FROM cvss LIMIT 0",
    "SELECT name, kind, records, corrupt, withdrawn, duplicates, sha256, newest FROM source LIMIT 0",
)
_HINT = "run `honed db update` (or `honed db import ../shared/vulndata`) to rebuild it"


def open_db(path: Path | str | None = None) -> Database:
    """Open a built database read-only; a missing, corrupt or foreign file raises DatabaseError."""
    p = Path(path) if path else default_db_path()
    if not p.is_file():
        raise DatabaseError(f"no vulnerability database at {p}", hint=_HINT)
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        for check in _SHAPE:  # every table and column the lookups read, so a damaged db is caught here
            con.execute(check).fetchall()
    except sqlite3.DatabaseError as e:
        raise DatabaseError(f"{p} is not a honed vulnerability database ({e})", hint=_HINT) from e
    if meta.get("schema") != SCHEMA_NAME:
        con.close()
        raise DatabaseError(f"{p} is not a honed vulnerability database", hint=_HINT)
    if meta.get("schema_version") != SCHEMA_VERSION:
        con.close()
        raise DatabaseError(
            f"{p} has database schema {meta.get('schema_version')}, this honed reads {SCHEMA_VERSION}", hint=_HINT
        )
    return Database(p, con, meta)
