"""apk: /lib/apk/db/installed — blank-line separated records of "X:value" lines (P name, V version,
A arch, o origin, L licence, D depends, F directory, R file in the last F)."""

from __future__ import annotations

from packageurl import PackageURL

from honed.catalog import licenses
from honed.catalog.context import Context, Distro
from honed.model import ApkMeta, Ecosystem, Package

INSTALLED = "/lib/apk/db/installed"


def parse_installed(data: bytes) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    recs: list[dict[str, object]] = []
    problems: list[tuple[int, str]] = []
    cur: dict[str, object] = {}
    files: list[str] = []
    cur_dir = ""
    start = 1

    def close() -> None:
        if cur:
            cur["files"] = list(files)
            cur["line"] = start
            recs.append(dict(cur))

    for n, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        if not line.strip():
            close()
            cur.clear()
            files.clear()
            cur_dir = ""
            continue
        if len(line) < 2 or line[1] != ":":
            problems.append((n, f"not a record line: {line[:60]!r}"))
            continue
        if not cur:
            start = n
        k, v = line[0], line[2:]
        if k == "F":
            cur_dir = v
        elif k == "R":
            files.append(f"/{cur_dir}/{v}" if cur_dir else f"/{v}")
        elif k not in cur:
            cur[k] = v
    close()
    return recs, problems


def purl(name: str, version: str, arch: str, origin: str, distro: Distro | None) -> str:
    quals = {}
    if arch:
        quals["arch"] = arch
    if origin and origin != name:
        quals["upstream"] = origin
    if distro and distro.id:
        quals["distro"] = distro.purl_distro
    ns = distro.id if distro and distro.id else "alpine"
    return PackageURL(type="apk", namespace=ns, name=name, version=version, qualifiers=quals).to_string()


def run(ctx: Context, paths: list[str]) -> None:
    for path in paths:
        data = ctx.read(path)
        if data is None:
            continue
        recs, problems = parse_installed(data)
        for line, msg in problems:
            ctx.problem(path, f"line {line}: {msg}")
        for r in recs:
            name, version = str(r.get("P", "")), str(r.get("V", ""))
            if not name or not version:
                ctx.problem(path, f"line {r['line']}: record without P (name) or V (version)")
                continue
            arch, origin = str(r.get("A", "")), str(r.get("o", ""))
            lic = licenses.normalize(str(r.get("L", ""))) if r.get("L") else None
            ctx.packages.append(
                Package(
                    name=name,
                    version=version,
                    ecosystem=Ecosystem.ALPINE,
                    purl=purl(name, version, arch, origin, ctx.distro),
                    locations=(ctx.location(path),),
                    licenses=(lic,) if lic else (),
                    found_by="apk-db",
                    meta=ApkMeta(
                        origin=origin or name,
                        arch=arch,
                        depends=tuple(str(r.get("D", "")).split()),
                        files=tuple(r["files"]),  # type: ignore[arg-type]
                    ),
                )
            )


def select(path: str, base: str, kind: str) -> bool:
    return kind == "f" and path == INSTALLED
