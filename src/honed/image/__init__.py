"""Image transports, safe layer reading, the read-only RootFS view, and the image writer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honed.image.image import Image, open_image

__all__ = ["Image", "open_image"]


def __getattr__(name: str) -> Any:  # lazy: `honed --help` must not import the image machinery
    if name in ("Image", "open_image"):
        from honed.image import image

        return getattr(image, name)
    raise AttributeError(name)
