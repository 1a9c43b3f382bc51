from __future__ import annotations

from pathlib import Path

import pytest

from honed.errors import UserError
from honed.profile.options import HttpProbe, ProfileOptions, parse_probe
from honed.profile.sandbox import exposed_ports, image_process, resolve_user

from .conftest import make_rootfs


def test_parse_probe() -> None:
    assert parse_probe("8080") == HttpProbe(8080, "/")
    assert parse_probe("8080/health") == HttpProbe(8080, "/health")
    assert parse_probe("80/a/b?x=1") == HttpProbe(80, "/a/b?x=1")
    for bad in ("x", "", "0", "70000/x"):
        with pytest.raises(UserError):
            parse_probe(bad)


def test_options_validate() -> None:
    with pytest.raises(UserError, match="backend"):
        ProfileOptions(backend="docker")
    with pytest.raises(UserError, match="tracer"):
        ProfileOptions(trace="ebpf")


def test_image_process_follows_the_config(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path / "r")
    cfg = {
        "config": {
            "Entrypoint": ["/usr/bin/tini", "--"],
            "Cmd": ["python3", "app.py"],
            "Env": ["PATH=/usr/bin", "A=b=c"],
            "WorkingDir": "/app",
            "User": "app",
            "ExposedPorts": {"8000/tcp": {}, "53/udp": {}, "443/tcp": {}},
        }
    }
    spec = image_process(cfg, root)
    assert spec.argv == ("/usr/bin/tini", "--", "python3", "app.py")
    assert spec.env["PATH"] == "/usr/bin" and spec.env["A"] == "b=c" and spec.env["HOME"] == "/home/app"
    assert (spec.cwd, spec.uid, spec.gid) == ("/app", 1000, 1000)
    assert exposed_ports(cfg) == [443, 8000]
    assert resolve_user("", root) == (0, 0, "/root")
    assert resolve_user("1000:root", root)[:2] == (1000, 0)
    assert resolve_user("4242", root)[:2] == (4242, 4242)
    with pytest.raises(UserError, match="not in its /etc/passwd"):
        resolve_user("nobody", root)
