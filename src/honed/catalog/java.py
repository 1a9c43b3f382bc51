"""Java archives (jar, war, ear, jpi, hpi), nested archives included (`outer.war!/WEB-INF/lib/x.jar`).

Each `META-INF/maven/**/pom.properties` is a package (shaded jars carry several); the archive itself is a
package named from its pom.properties when one matches the file name, else from MANIFEST.MF and the file
name. An archive that is not a zip is a problem.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile

from packageurl import PackageURL

from honed.catalog.context import Context
from honed.model import Ecosystem, JarMeta, Location, Package

EXTS = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_NESTED = 256 << 20
MAX_DEPTH = 4
_NAME_VER = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+?)-(?P<version>\d[\w.\-+]*)$")


def parse_manifest(data: bytes) -> dict[str, str]:
    """MANIFEST.MF main section (continuation lines start with one space)."""
    out: dict[str, str] = {}
    key = None
    for line in data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if not line:
            if out:
                break  # end of the main section
            continue
        if line.startswith(" ") and key:
            out[key] += line[1:]
        elif ":" in line:
            k, v = line.split(":", 1)
            key = k.strip()
            out[key] = v.strip()
    return out


def parse_properties(data: bytes) -> dict[str, str]:
    out = {}
    for line in data.decode("latin-1").splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        for sep in ("=", ":"):
            if sep in line:
                k, v = line.split(sep, 1)
                out[k.strip()] = v.strip()
                break
    return out


def maven_purl(group: str, artifact: str, version: str) -> str:
    return PackageURL(type="maven", namespace=group or None, name=artifact, version=version or None).to_string()


def parse_archive(data_or_file, display: str, depth: int = 0):  # type: ignore[no-untyped-def]
    """Yield ("pkg", Package) and ("problem", message) for one archive and its nested archives."""
    try:
        zf = zipfile.ZipFile(data_or_file)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        yield ("problem", display, f"not a valid zip archive: {e}")
        return
    with zf:
        try:
            names = zf.namelist()
        except Exception as e:  # noqa: BLE001 - a corrupt central directory
            yield ("problem", display, f"corrupt archive: {e}")
            return
        manifest: dict[str, str] = {}
        poms: list[dict[str, str]] = []
        try:
            if "META-INF/MANIFEST.MF" in names:
                manifest = parse_manifest(zf.read("META-INF/MANIFEST.MF")[: 1 << 20])
            for n in names:
                if n.startswith("META-INF/maven/") and n.endswith("/pom.properties"):
                    poms.append(parse_properties(zf.read(n)[: 1 << 20]))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            yield ("problem", display, f"corrupt archive member: {e}")
        stem = posixpath.basename(display.split("!/")[-1])
        stem = stem.rsplit(".", 1)[0]
        m = _NAME_VER.match(stem)
        file_name, file_version = (m.group("name"), m.group("version")) if m else (stem, "")
        main_pom = None
        for p in poms:
            if p.get("artifactId") and p.get("artifactId") == file_name:
                main_pom = p
                break
        if main_pom is None and len(poms) == 1 and not file_version:
            main_pom = poms[0]
        if main_pom is not None:
            group, artifact, version = main_pom.get("groupId", ""), main_pom["artifactId"], main_pom.get("version", "")
        else:
            symbolic = manifest.get("Bundle-SymbolicName", "").split(";")[0].strip()
            group = manifest.get("Implementation-Vendor-Id", "") or (
                symbolic if "." in symbolic and symbolic != file_name else ""
            )
            artifact = file_name
            # the file name's version is the most reliable (manifests say "5.13.0 (b0)" or
            # "3.18.300.v20230220-1352"); the manifest's fills in when the name has none (as syft does)
            version = (
                file_version
                or manifest.get("Implementation-Version")
                or manifest.get("Bundle-Version")
                or manifest.get("Specification-Version")
                or ""
            )
        yield ("pkg", display, _pkg(artifact, version, group, display))
        for p in poms:
            if p is main_pom or not p.get("artifactId"):
                continue
            yield ("pkg", display, _pkg(p["artifactId"], p.get("version", ""), p.get("groupId", ""), display))
        if depth >= MAX_DEPTH:
            return
        for info in zf.infolist():
            if info.filename.lower().endswith(EXTS) and not info.is_dir():
                inner = f"{display}!/{info.filename}"
                if info.file_size > MAX_NESTED:
                    yield ("problem", inner, f"nested archive of {info.file_size} bytes skipped")
                    continue
                try:
                    blob = zf.read(info)
                except Exception as e:  # noqa: BLE001 - corrupt member
                    yield ("problem", inner, f"cannot read nested archive: {e}")
                    continue
                yield from parse_archive(io.BytesIO(blob), inner, depth + 1)


def _pkg(artifact: str, version: str, group: str, display: str) -> Package:
    return Package(
        name=artifact,
        version=version,
        ecosystem=Ecosystem.MAVEN,
        purl=maven_purl(group, artifact, version),
        locations=(),  # filled by run()
        found_by="java-archive",
        meta=JarMeta(archive_path=display, group_id=group, artifact_id=artifact),
    )


def run(ctx: Context, paths: list[str]) -> None:
    from dataclasses import replace

    for path in sorted(paths):
        try:
            f = ctx.open(path)
        except OSError as e:
            ctx.problem(path, f"cannot read: {e}")
            continue
        with f:
            h = hashlib.sha1(usedforsecurity=False)
            while chunk := f.read(1 << 20):
                h.update(chunk)
            sha1 = h.hexdigest()
            f.seek(0)
            layer = ctx.rootfs.layer_of(path)
            for kind, where, item in parse_archive(f, path):
                if kind == "problem":
                    ctx.problem(where, item)
                    continue
                meta = item.meta
                if meta.archive_path == path:
                    meta = replace(meta, sha1=sha1)
                # nested archives keep their "outer!/inner" path, so each has its own location and id
                loc = Location(path=meta.archive_path, layer=layer)
                ctx.packages.append(replace(item, locations=(loc,), meta=meta))


def select(path: str, base: str, kind: str) -> bool:
    return kind == "f" and base.lower().endswith(EXTS)
