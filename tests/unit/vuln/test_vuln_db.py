"""The advisory database: import from every container format, corrupt lines, withdrawn records, digests,
status, corrupt/foreign databases, atomic replacement, and `db update` against a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import http.server
import json
import shutil
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from honed.cli.main import main
from honed.errors import DatabaseError, UserError
from honed.vuln.db import import_sources, open_db
from honed.vuln.update import update


def _rec(id_: str, name: str = "demo", eco: str = "PyPI", fixed: str = "2.0", **extra: object) -> dict[str, object]:
    return {
        "id": id_, "modified": "2024-01-01T00:00:00Z", "summary": f"{id_} summary",
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        **extra,
    }


RECORDS = [
    _rec("GHSA-aaaa-bbbb-cccc", name="Demo_Pkg", aliases=["CVE-2024-0001"]),
    _rec("PYSEC-2024-1", name="demo-pkg", aliases=["CVE-2024-0001"]),
    _rec("GHSA-wwww-wwww-wwww", withdrawn="2024-02-01T00:00:00Z"),
    _rec("MAL-2024-9", name="evilpkg", fixed="", database_specific={"malicious-packages-origins": []}),
]


def _write_jsonl(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def test_import_jsonl_gz_counts_corrupt_and_withdrawn(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in RECORDS]
    lines.insert(1, '{"id": "BROKEN", "affected": [')  # a truncated line
    lines.insert(2, "not json at all")
    src = _write_jsonl(tmp_path / "x.osv.jsonl.gz", lines, gz=True)
    rep = import_sources([src], tmp_path / "db" / "h.db")
    s = rep.sources[0]
    assert (s.records, s.corrupt, s.withdrawn) == (3, 2, 1)
    with open_db(tmp_path / "db" / "h.db") as db:
        # PEP 503: "Demo_Pkg" and "demo-pkg" are one name
        assert {r.advisory for r in db.affected("PyPI", "demo.pkg")} == {"GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1"}
        assert db.affected("PyPI", "demo") == []  # the withdrawn record is not stored
        adv = db.advisories(["MAL-2024-9"])["MAL-2024-9"]
        assert adv.malicious


def test_same_records_same_digest_in_any_container(tmp_path: Path) -> None:
    good = [r for r in RECORDS if "withdrawn" not in r]
    a = _write_jsonl(tmp_path / "a.jsonl", [json.dumps(r) for r in good])
    zdir = tmp_path / "zip"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / "all.zip", "w") as z:
        for r in good:
            z.writestr(f"{r['id']}.json", json.dumps(r, indent=2))
    jdir = tmp_path / "dir"
    (jdir / "sub").mkdir(parents=True)
    for r in good:
        (jdir / "sub" / f"{r['id']}.json").write_text(json.dumps(r))
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps(good))
    digests = {import_sources([s], tmp_path / f"{n}.db").digest for n, s in
               enumerate([a, zdir / "all.zip", jdir, lst])}
    assert len(digests) == 1


def test_kev_and_cvss_sources(tmp_path: Path, vulndata: Path) -> None:
    rep = import_sources([vulndata / "cisa-kev.json.gz", vulndata / "cvss-from-osv.tsv.gz"], tmp_path / "k.db")
    assert rep.kev == 1404 and rep.cvss == 24916
    with open_db(tmp_path / "k.db") as db:
        assert "CVE-2025-48384" in db.kev(["CVE-2025-48384", "CVE-1999-0001"])
        rows = db.cvss(["CVE-2000-0062"])["CVE-2000-0062"]
        assert ("GHSA-wcwp-r3fj-mm3p", "QUALITATIVE", "HIGH", None) in rows


def test_failed_import_leaves_old_db(tmp_path: Path) -> None:
    dbp = tmp_path / "h.db"
    good = import_sources([_write_jsonl(tmp_path / "a.jsonl", [json.dumps(RECORDS[0])])], dbp)
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"id": "X"}\n' * 1000)[:60])  # truncated gzip
    with pytest.raises(UserError):
        import_sources([bad], dbp)
    with open_db(dbp) as db:
        assert db.digest == good.digest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_corrupt_and_foreign_db(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a honed vulnerability database") as e:
        open_db(junk)
    assert "honed db update" in e.value.render()
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(DatabaseError):
        open_db(foreign)
    with pytest.raises(DatabaseError, match="no vulnerability database"):
        open_db(tmp_path / "missing.db")
    # and through the CLI: exit 3, one line, the hint
    assert main(["db", "status", "--db", str(junk)]) == 3


def test_damaged_db_is_a_database_error_not_a_crash(tmp_path: Path) -> None:
    # a db missing a table once opened fine and then crashed the scan (exit 5) at the KEV lookup
    src = _write_jsonl(tmp_path / "x.osv.jsonl", [json.dumps(r) for r in RECORDS])
    good = tmp_path / "good.db"
    import_sources([src], good)
    for table in ("kev", "cvss", "advisory", "source"):
        broken = tmp_path / f"no-{table}.db"
        shutil.copy(good, broken)
        con = sqlite3.connect(broken)
        con.execute(f"DROP TABLE {table}")
        con.commit()
        con.close()
        with pytest.raises(DatabaseError, match=f"no such table: {table}"):
            open_db(broken)
    # damage found only while querying (pages past the checks) is a DatabaseError too: exit 3, one line
    with open_db(good) as db:
        con = sqlite3.connect(good)
        con.execute("DROP TABLE cvss")
        con.commit()
        con.close()
        with pytest.raises(DatabaseError, match="is damaged") as e:
            db.cvss(["CVE-2024-0001"])
        assert e.value.exit_code == 3


def test_import_to_an_unwritable_path_is_exit_3(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "x.osv.jsonl", [json.dumps(r) for r in RECORDS])
    (tmp_path / "adir").mkdir()
    assert main(["db", "import", "--db", str(tmp_path / "adir"), str(src)]) == 3
    (tmp_path / "afile").write_text("x")
    assert main(["db", "import", "--db", str(tmp_path / "afile" / "h.db"), str(src)]) == 3


def test_status_age_and_digest(tmp_path: Path) -> None:
    dbp = tmp_path / "h.db"
    built = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rep = import_sources([_write_jsonl(tmp_path / "a.jsonl", [json.dumps(r) for r in RECORDS])], dbp,
                         now=lambda: built)
    with open_db(dbp) as db:
        fresh = db.status(max_age_days=7, now=lambda: built + dt.timedelta(days=2))
        old = db.status(max_age_days=7, now=lambda: built + dt.timedelta(days=30))
    assert fresh.digest == rep.digest and fresh.built_at == "2026-01-01T00:00:00Z"
    assert not fresh.stale and old.stale and round(old.age_days) == 30
    assert fresh.advisories == 3 and fresh.ecosystems == {"PyPI": 3}
    assert fresh.sources[0]["withdrawn_skipped"] == 1


def test_cli_import_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "a.jsonl", [json.dumps(r) for r in RECORDS] + ["{bad"])
    dbp = tmp_path / "h.db"
    assert main(["-q", "db", "import", str(src), "--db", str(dbp)]) == 0
    out = capsys.readouterr().out
    assert "1 corrupt skipped" in out and "1 withdrawn skipped" in out
    assert main(["db", "status", "--db", str(dbp), "--json", "--max-age-days", "0"]) == 0
    cap = capsys.readouterr()
    st = json.loads(cap.out)
    assert st["counts"]["advisories"] == 3 and st["digest"].startswith("sha256:")
    assert "run `honed db update`" in cap.err  # max age 0: always stale


# --------------------------------------------------------------------------------- db update over HTTP


class _Handler(http.server.SimpleHTTPRequestHandler):
    fail_first: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802
        left = self.fail_first.get(self.path, 0)
        if left:
            self.fail_first[self.path] = left - 1
            self.send_error(503, "try again")
            return
        super().do_GET()

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[object]:
    """A real HTTP server in a thread, serving a directory (only the network is local, nothing is faked)."""
    servers = []

    def start(directory: Path) -> str:
        h = functools.partial(_Handler, directory=str(directory))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


SMALL = ("pypi-pypa.osv.jsonl.gz", "cisa-kev.json.gz", "npm-nodejs-security-wg.osv.jsonl.gz")


def test_update_from_local_server_verifies_sha256sums(tmp_path: Path, vulndata: Path, serve) -> None:  # type: ignore[no-untyped-def]
    base = serve(vulndata)  # the shared folder as is, its SHA256SUMS included
    dbp = tmp_path / "u.db"
    _Handler.fail_first = {"/cisa-kev.json.gz": 2}  # two 503s, then success: the retry path for real
    rep = update(dbp, [f"{base}/{n}" for n in SMALL], backoff=0.01)
    assert rep.kev == 1404 and rep.advisories > 400
    assert {s.sha256 for s in rep.sources} <= {
        ln.split()[0] for ln in (vulndata / "SHA256SUMS").read_text().splitlines()}
    # the same data imported directly gives the same content digest
    assert import_sources([vulndata / n for n in SMALL], tmp_path / "direct.db").digest == rep.digest


def test_update_checksum_mismatch_keeps_old_db(tmp_path: Path, vulndata: Path, serve) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(vulndata / "pypi-pypa.osv.jsonl.gz", site)
    (site / "SHA256SUMS").write_text("0" * 64 + "  pypi-pypa.osv.jsonl.gz\n")
    base = serve(site)
    dbp = tmp_path / "u.db"
    old = import_sources([_write_jsonl(tmp_path / "a.jsonl", [json.dumps(RECORDS[0])])], dbp)
    with pytest.raises(DatabaseError, match="checksum mismatch"):
        update(dbp, [f"{base}/pypi-pypa.osv.jsonl.gz"], backoff=0.01)
    with pytest.raises(DatabaseError, match="HTTP 404"):
        update(dbp, [f"{base}/missing.zip"], backoff=0.01)
    # a pinned checksum in the URL fragment wins over SHA256SUMS
    real = hashlib.sha256((site / "pypi-pypa.osv.jsonl.gz").read_bytes()).hexdigest()
    with open_db(dbp) as db:
        assert db.digest == old.digest
    rep = update(dbp, [f"{base}/pypi-pypa.osv.jsonl.gz#sha256={real}"], backoff=0.01)
    assert rep.advisories > 2000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".honed-update")]


def test_update_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="after 2 attempts"):
        update(tmp_path / "u.db", ["http://127.0.0.1:9/nothing.zip"], attempts=2, backoff=0.01, timeout=2)
    assert not (tmp_path / "u.db").exists()
