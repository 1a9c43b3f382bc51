"""Catalog: every package in an image, the files it owns, its licences, and the file → package index.

    from honed.catalog import catalog, catalog_image
    cat = catalog_image("oci:/path/to/layout:tag")
    cat.packages, cat.problems, cat.distro, cat.ownership.owners("/usr/bin/bash")
"""

from __future__ import annotations

from honed.catalog.context import Distro
from honed.catalog.core import Catalog, ImageInfo, catalog, catalog_image
from honed.catalog.ownership import OwnershipIndex

__all__ = ["Catalog", "Distro", "ImageInfo", "OwnershipIndex", "catalog", "catalog_image"]
