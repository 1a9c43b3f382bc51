"""The generic runner: one walk of the rootfs, each selected cataloger gets the files it asked for, the
results become one sorted, de-duplicated Catalog with its ownership index."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.catalog import dpkg, registry
from honed.catalog.context import Context, Distro, parse_os_release
from honed.catalog.fsindex import FileIndex
from honed.catalog.ownership import OwnershipIndex
from honed.image.rootfs import DirRootFS, RootFS
from honed.model import Package, Problem

log = logging.getLogger(__name__)

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an SBOM says about its subject."""

    ref: str = ""
    digest: str = ""  # manifest digest, sha256:…
    created: str = ""  # the image config's creation time (RFC 3339), the SBOM's default timestamp
    config_digest: str = ""
    layers: tuple[str, ...] = ()  # diff_ids, bottom first

    @classmethod
    def from_image(cls, image: Any) -> ImageInfo:
        ref = getattr(image, "ref", None)
        digest = getattr(image, "manifest_digest", None) or getattr(ref, "digest", None) or ""
        config = getattr(image, "config", None) or {}
        layers = tuple(getattr(lay, "diff_id", "") for lay in getattr(image, "layers", ()) or ())
        return cls(
            ref=str(ref) if ref is not None else "",
            digest=str(digest),
            created=str(config.get("created", "")) if isinstance(config, dict) else "",
            config_digest=str(getattr(image, "config_digest", "") or ""),
            layers=layers,
        )


@dataclass(frozen=True)
class Catalog:
    packages: tuple[Package, ...]
    problems: tuple[Problem, ...]
    distro: Distro | None
    ownership: OwnershipIndex
    image: ImageInfo | None = None
    catalogers: tuple[tuple[str, str], ...] = ()  # (name, version) of the catalogers that ran
    dir_links: dict[str, str] = field(default_factory=dict)
    diversions: tuple[tuple[str, str, str], ...] = ()

    def package(self, package_id: str) -> Package | None:
        return self._by_id().get(package_id)

    def _by_id(self) -> dict[str, Package]:
        cache = self.__dict__.get("_by_id_cache")
        if cache is None:
            cache = {p.id: p for p in self.packages}
            object.__setattr__(self, "_by_id_cache", cache)
        return cache  # type: ignore[no-any-return]


def sort_key(p: Package) -> tuple[str, str, str, str]:
    return (p.ecosystem.value, p.name, p.version, p.id)


def finish(packages: Iterable[Package]) -> tuple[Package, ...]:
    """Sorted by ecosystem, name, version, id; one package per id."""
    seen: dict[str, Package] = {}
    for p in packages:
        seen.setdefault(p.id, p)
    return tuple(sorted(seen.values(), key=sort_key))


def read_distro(rootfs: RootFS, index: FileIndex) -> Distro | None:
    for path in OS_RELEASE:
        real = index.resolve(path)
        if index.kind(real) == "f":
            try:
                d = parse_os_release(rootfs.read_bytes(real, 1 << 16))
            except OSError:
                continue
            if d.id:
                return d
    return None


def catalog(rootfs: RootFS, *, image: Any = None, select: str = "default") -> Catalog:
    """Inventory an image's filesystem: every package, its files and licences, and who owns each file."""
    chosen = registry.select(select)
    t0 = time.perf_counter()
    index = FileIndex.build(rootfs)
    log.debug("indexed %d entries in %.2fs", len(index.entries), time.perf_counter() - t0)
    ctx = Context(rootfs=rootfs, index=index, distro=read_distro(rootfs, index))

    first = [c for c in chosen if not c.needs_ownership]
    last = [c for c in chosen if c.needs_ownership]
    selected: list[list[str]] = [[] for _ in first]
    preds = [(c.select, selected[i]) for i, c in enumerate(first)]
    for path, entry in index.entries.items():
        base = path[path.rfind("/") + 1 :]
        kind = entry[0]
        for pred, out in preds:
            if pred(path, base, kind):
                out.append(path)
    for c, paths in zip(first, selected, strict=True):
        _run(ctx, c, paths)

    dir_links = index.dir_links()
    diversions = dpkg.diversions(ctx) if any(c.name == "dpkg-db" for c in chosen) else ()
    ownership = OwnershipIndex(finish(ctx.packages), dir_links, diversions)
    if last:
        ctx.cache["owned_paths"] = ownership._owners
        n = len(ctx.packages)
        for c in last:
            _run(ctx, c, [])
        ownership.add(finish(ctx.packages[n:]))
    packages = finish(ctx.packages)
    result = Catalog(
        packages=packages,
        problems=tuple(sorted(set(ctx.problems), key=lambda p: (p.path, p.message, p.stage))),
        distro=ctx.distro,
        ownership=ownership,
        image=ImageInfo.from_image(image) if image is not None else None,
        catalogers=tuple((c.name, c.version) for c in chosen),
        dir_links=dir_links,
        diversions=diversions,
    )
    log.debug("catalogued %d packages in %.2fs", len(packages), time.perf_counter() - t0)
    return result


def _run(ctx: Context, c: registry.Cataloger, paths: list[str]) -> None:
    ctx.cataloger = c.name
    t = time.perf_counter()
    try:
        c.run(ctx, paths)
    except Exception as e:  # one broken cataloger must not lose the rest of the inventory
        log.debug("cataloger %s failed", c.name, exc_info=True)
        ctx.problem("/", f"cataloger {c.name} failed: {type(e).__name__}: {e}")
    log.debug("%s: %.3fs", c.name, time.perf_counter() - t)


def catalog_image(
    ref: Any, *, select: str = "default", cache_dir: Path | None = None, mode: str = "auto"
) -> Catalog:
    """Open an image reference (or `dir:PATH`, an unpacked root filesystem) and catalogue it.

    mode "extract" catalogues the extracted rootfs (extracting it into the cache if needed), "stream" reads the
    layer tars once without extracting (catalog.stream), "auto" uses the extracted rootfs when the cache
    already has it and streams otherwise — a cold `honed sbom` then writes only the files it reads."""
    if isinstance(ref, str) and ref.startswith("dir:"):
        root = ref[4:]
        if not os.path.isdir(root):
            from honed.errors import UserError

            raise UserError(f"{root} is not a directory")
        return catalog(DirRootFS(root), select=select)
    from honed.image import open_image  # type: ignore[attr-defined]

    img = open_image(ref, cache_dir=cache_dir)
    if mode == "stream" or (mode == "auto" and not _extracted(img)):
        from honed.catalog.stream import stream_rootfs

        with stream_rootfs(img) as rootfs:
            return catalog(rootfs, image=img, select=select)
    return catalog(img.rootfs(), image=img, select=select)


def _extracted(img: Any) -> bool:
    """Whether honed.image's cache already holds this image's extracted rootfs (its layout:
    CACHE/rootfs/<manifest hex>/layers.json, written last)."""
    try:
        key = str(img.manifest_digest).split(":", 1)[1]
        return bool((Path(img.cache_dir) / "rootfs" / key / "layers.json").is_file())
    except (AttributeError, IndexError, OSError, TypeError):
        return False
