from __future__ import annotations

from honed.harden import default_destination
from honed.model import ImageRef


def test_default_destination_is_tag_hardened_in_the_same_transport() -> None:
    assert default_destination(ImageRef("oci", "/x/layout", "1.0")) == "oci:/x/layout:1.0-hardened"
    assert default_destination(ImageRef("oci", "/x/layout")) == "oci:/x/layout:latest-hardened"
    assert default_destination(ImageRef("docker", "reg:5000/app", "2")) == "docker://reg:5000/app:2-hardened"
    assert default_destination(ImageRef("docker-archive", "/t/app.tar")) == "docker-archive:/t/app-hardened.tar"


def test_tag_option_overrides() -> None:
    assert default_destination(ImageRef("oci", "/x/l", "1.0"), "app:1.0-slim") == "oci:/x/l:1.0-slim"
    assert default_destination(ImageRef("oci", "/x/l", "1.0"), "slim") == "oci:/x/l:slim"
    assert default_destination(ImageRef("docker", "reg/app", "1"), "reg/app:1-h") == "docker://reg/app:1-h"
    assert default_destination(ImageRef("docker", "reg/app", "1"), "reg:5000/app") == "docker://reg:5000/app:latest"
    assert default_destination(ImageRef("docker-archive", "/t/a.tar"), "app:h") == "docker-archive:/t/a-hardened.tar:app:h"
