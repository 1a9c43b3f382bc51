"""`honed inspect IMAGE`: digests, platform, OS, config and layers of an image."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "inspect",
        help="show an image's digests, platform, OS, config and layers",
        description="Show an image's manifest digest, platform, OS (from /etc/os-release), config and layers. "
        "IMAGE is oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, docker://REG/REPO:TAG, "
        "docker-daemon:NAME:TAG or containers-storage:NAME:TAG.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--file", metavar="PATH", help="write to PATH instead of stdout")
    p.add_argument("--tls-verify", choices=("true", "false"), default=None,
                   help="verify registry TLS (default: true, except for localhost/127.0.0.1)")
    p.set_defaults(func=run)


def _human(n: int) -> str:
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if f < 1024 or unit == "GiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return str(n)


def _table(d: dict[str, Any]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    con = Console(file=buf, width=160, no_color=True, highlight=False)
    osd = d["os"] or {}
    c = d["config"]
    rows = [
        ("Reference", d["reference"]),
        ("Manifest digest", d["manifest_digest"]),
        ("Config digest", d["config_digest"]),
        ("Platform", d["platform"]),
        ("OS", osd.get("pretty_name") or osd.get("id") or "unknown"),
        ("Created", d["created"] or ""),
        ("Entrypoint", " ".join(c["entrypoint"])),
        ("Cmd", " ".join(c["cmd"])),
        ("Workdir", c["workdir"]),
        ("User", c["user"]),
        ("Exposed ports", ", ".join(c["exposed_ports"])),
        ("Size", f"{_human(d['size']['compressed'])} compressed, {_human(d['size']['unpacked'])} unpacked"),
    ]
    if d.get("index_digest"):
        rows.insert(2, ("Index digest", d["index_digest"]))
    if d.get("source_digest") and d["source_digest"] != d["manifest_digest"]:
        rows.insert(2, ("Source digest", f"{d['source_digest']} (as the engine stores it)"))
    for k, v in rows:
        con.print(f"{k + ':':<17}{v}")
    if c["env"]:
        con.print("Env:")
        for e in c["env"]:
            con.print(f"  {e}")
    if c["labels"]:
        con.print("Labels:")
        for k, v in c["labels"].items():
            con.print(f"  {k}={v}")
    t = Table(title=None, box=None, pad_edge=False)
    for col in ("#", "DIGEST", "DIFF_ID", "SIZE", "UNPACKED", "CREATED BY"):
        t.add_column(col, no_wrap=col != "CREATED BY")
    for i, lyr in enumerate(d["layers"]):
        t.add_row(str(i), lyr["digest"][:19], lyr["diff_id"][:19], _human(lyr["size"]),
                  _human(lyr["unpacked_size"]), (lyr["created_by"] or "")[:80])
    con.print("Layers:")
    con.print(t)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    from honed.cli.common import dump_json, write_output
    from honed.image.inspect import inspect

    tls = None if args.tls_verify is None else args.tls_verify == "true"
    d = inspect(args.image, tls_verify=tls)
    write_output(dump_json(d) if args.output == "json" else _table(d), args.file)
    return 0
