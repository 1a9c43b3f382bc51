"""The one explicit, ordered list of catalogers, with tags and presets. Nothing registers itself.

A cataloger is data: a name, a `version` (bump it when its output for the same bytes changes — it is the
key of a future per-layer cache), tags, a `select(path, basename, kind)` predicate the generic runner
applies to the single file index, and `run(ctx, selected_paths)`, which reads the selected files and hands
their bytes to pure parsers.

Selection strings (`--catalogers`), comma-separated: a preset (`default`, `all`, `os`, `language`,
`binary`), a tag or a cataloger name selects; `+name` adds to the default set and `-name` removes.
Examples: `os`, `python,npm`, `-binary`, `default,-elf-unowned`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from honed.catalog import apk, binary, dpkg, golang, java, npm, python, rpm, rust
from honed.catalog.context import Context
from honed.errors import UserError


@dataclass(frozen=True, slots=True)
class Cataloger:
    name: str
    version: str
    tags: frozenset[str]
    select: Callable[[str, str, str], bool]
    run: Callable[[Context, list[str]], None]
    needs_ownership: bool = False  # runs after the others, with their ownership known


def _c(name: str, version: str, tags: str, mod, needs_ownership: bool = False) -> Cataloger:  # type: ignore[no-untyped-def]
    return Cataloger(name, version, frozenset(tags.split()), mod.select, mod.run, needs_ownership)


REGISTRY: tuple[Cataloger, ...] = (
    _c("dpkg-db", "1", "os dpkg debian package", dpkg),
    _c("apk-db", "1", "os apk alpine package", apk),
    _c("rpm-db", "1", "os rpm package", rpm),
    _c("python-installed", "1", "language python pypi package", python),
    _c("npm-package", "1", "language javascript npm node package", npm),
    _c("java-archive", "1", "language java maven jar package", java),
    _c("go-module-binary", "1", "language go golang binary", golang),
    _c("cargo-auditable-binary", "1", "language rust cargo binary", rust),
    _c("elf-unowned", "1", "binary elf", binary, needs_ownership=True),
)

PRESETS: dict[str, tuple[str, ...]] = {
    "default": tuple(c.name for c in REGISTRY),
    "all": tuple(c.name for c in REGISTRY),
}


class UnknownCatalogerError(UserError):
    def __init__(self, token: str) -> None:
        names = ", ".join(sorted({*PRESETS, *(c.name for c in REGISTRY), *(t for c in REGISTRY for t in c.tags)}))
        super().__init__(f"unknown cataloger selection {token!r}", hint=f"choose from: {names}")


def _expand(token: str) -> set[str]:
    if token in PRESETS:
        return set(PRESETS[token])
    hit = {c.name for c in REGISTRY if c.name == token or token in c.tags}
    if not hit:
        raise UnknownCatalogerError(token)
    return hit


def select(selection: str = "default") -> tuple[Cataloger, ...]:
    """The catalogers a selection string names, in registry order."""
    base: set[str] = set()
    plus: set[str] = set()
    minus: set[str] = set()
    explicit = False
    for raw in selection.split(","):
        tok = raw.strip()
        if not tok:
            continue
        if tok[0] == "+":
            plus |= _expand(tok[1:])
        elif tok[0] == "-":
            minus |= _expand(tok[1:])
        else:
            base |= _expand(tok)
            explicit = True
    if not explicit:
        base = set(PRESETS["default"])
    chosen = (base | plus) - minus
    return tuple(c for c in REGISTRY if c.name in chosen)
