"""Which packages own a used path: the one seam to engineer C's catalog (ownership index)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PYC = re.compile(r"^(.*)/__pycache__/([^/.]+)\.[^/]*\.pyc$")

OwnersFn = Callable[[str], tuple[str, ...]]


def ownership(rootfs: Path | str, image: Any = None, catalog: Any = None) -> tuple[OwnersFn, int]:
    """(path → owning package ids, number of packages in the image). Without a catalog: no owners, 0.
    `catalog`: the image's catalog when the caller has one already (the pipeline), else it is built here."""
    if catalog is not None:
        cat = catalog
    else:
        try:
            from honed.catalog import catalog as build_catalog
            from honed.image.rootfs import DirRootFS
        except ImportError as e:
            log.warning("no catalog available (%s): usage.json will name no owners", e)
            return (lambda _p: ()), 0
        cat = build_catalog(DirRootFS(rootfs), image=image)
    index = cat.ownership

    def owners(path: str) -> tuple[str, ...]:
        got = tuple(index.owners(path))
        if not got:
            # Debian does not list .pyc files (generated at install): the source's package owns its cache.
            m = _PYC.match(path)
            if m:
                got = tuple(index.owners(f"{m.group(1)}/{m.group(2)}.py"))
        return got

    return owners, len(cat.packages)
