"""Presets, the protected set, the default keep list, keep entries and the policy file.

Decisions (see notes/harden.md for the reasoning):
- PROTECTED packages are never removed: `base-files` carries /etc/os-release, without which no scanner can
  tell the distribution (and Debian advisories stop matching); `libc6` carries the dynamic loader, the NSS
  modules and gconv modules that every dynamic program may load at any time.
- DEFAULT_KEEP are "rarely used but legitimate": a test run that never makes a TLS call, never formats a
  local time or never looks up a service name gives no evidence for them, yet production needs them. They
  are kept unless the policy empties `default_keep`; the analysis says that this list kept them.
- Package-manager tooling (dpkg, apt, debconf…) and shells are *not* protected: a runtime image does not
  need them. Their removal is flagged in the removal log so it is easy to spot.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from honed.errors import UserError
from honed.image.rootfs import glob_regex
from honed.model import Severity

PRESETS = ("aggressive", "standard", "light")

PROTECTED: tuple[str, ...] = ("base-files", "libc6")

DEFAULT_KEEP: tuple[str, ...] = (
    "ca-certificates",  # TLS trust store: any HTTPS call
    "tzdata",  # local time formatting, /etc/localtime
    "netbase",  # /etc/services, /etc/protocols: getaddrinfo/getservbyname
    "media-types",  # /etc/mime.types: Python mimetypes, web servers' content types
    "libc-bin",  # C.utf8 locale data, ldconfig, getent
    "libgcc-s1",  # dlopened by glibc for pthread_cancel/unwinding only when it happens
    "locales",
    "locales-all",
)

# Categories flagged in the removal log: removing them is legitimate for a runtime image but worth a look.
FLAGS: Mapping[str, str] = {
    **{n: "package-manager" for n in (
        "dpkg", "apt", "apt-utils", "libapt-pkg6.0", "debconf", "debianutils", "debian-archive-keyring",
        "gpgv", "libdebconfclient0", "python3-pip", "pip", "npm", "corepack", "setuptools", "wheel",
    )},
    **{n: "shell" for n in ("bash", "dash", "sh", "busybox")},
    **{n: "user-database" for n in ("base-passwd", "login", "passwd", "adduser")},
    **{n: "rarely-used" for n in DEFAULT_KEEP},
}

POLICY_KEYS = {"preset", "keep", "protected", "default_keep", "lookups", "follow_depends", "mode"}


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything that decides what may go, besides the evidence."""

    preset: str = "aggressive"
    keep: tuple[str, ...] = ()  # package names, name globs, or path globs (starting with "/")
    protected: tuple[str, ...] = PROTECTED
    default_keep: tuple[str, ...] = DEFAULT_KEEP
    lookups: str = "count"  # count: a stat of an existing file marks its package used; ignore: it does not
    follow_depends: bool = False  # keep the declared dependencies of every kept package
    mode: str = "packages"  # packages | files (also drop never-touched files of used packages)
    sources: tuple[str, ...] = field(default=())  # where the policy came from, for the record

    def preset_selects(self, severities: Sequence[Severity]) -> bool:
        """Does the preset remove an unused package carrying findings of these severities?"""
        if self.preset == "aggressive":
            return True
        if self.preset == "standard":
            return bool(severities)
        return any(s.rank >= Severity.HIGH.rank for s in severities)

    def preset_rule(self) -> str:
        return {
            "aggressive": "aggressive: every package without usage evidence",
            "standard": "standard: packages without usage evidence that carry a CVE",
            "light": "light: packages without usage evidence that carry a HIGH or CRITICAL CVE",
        }[self.preset]


def _strs(value: Any, key: str, src: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UserError(f"policy {src}: {key!r} must be a list of strings")


def load_policy(path: Path | str, base: Policy | None = None) -> Policy:
    """Read a YAML policy file over `base`. Unknown keys and bad values are errors (typos must not pass)."""
    import yaml

    src = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise UserError(f"cannot read policy file {src}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise UserError(f"policy file {src} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"policy file {src} must be a mapping of settings")
    unknown = sorted(set(data) - POLICY_KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(POLICY_KEYS), n=1)
        raise UserError(
            f"policy file {src}: unknown setting {unknown[0]!r}",
            hint=f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(POLICY_KEYS))}",
        )
    p = base or Policy()
    changes: dict[str, Any] = {}
    if "preset" in data:
        changes["preset"] = check_preset(str(data["preset"]))
    if "keep" in data:
        changes["keep"] = p.keep + _strs(data["keep"], "keep", src)
    for key in ("protected", "default_keep"):
        if key in data:
            changes[key] = _strs(data[key], key, src)
    if "lookups" in data:
        if data["lookups"] not in ("count", "ignore"):
            raise UserError(f"policy file {src}: 'lookups' must be 'count' or 'ignore'")
        changes["lookups"] = data["lookups"]
    if "follow_depends" in data:
        if not isinstance(data["follow_depends"], bool):
            raise UserError(f"policy file {src}: 'follow_depends' must be true or false")
        changes["follow_depends"] = data["follow_depends"]
    if "mode" in data:
        changes["mode"] = check_mode(str(data["mode"]))
    changes["sources"] = p.sources + (src,)
    return replace(p, **changes)


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}", hint=f"use one of: {', '.join(PRESETS)}")
    return preset


def check_mode(mode: str) -> str:
    if mode not in ("packages", "files"):
        raise UserError(f"unknown mode {mode!r}", hint="use 'packages' or 'files'")
    return mode


def is_glob(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def match_keep(
    entries: Iterable[str],
    names: Mapping[str, list[str]],
    files_of: Mapping[str, Sequence[str]],
) -> dict[str, list[str]]:
    """Keep entries → {package id: [entries that matched]}. An entry matching nothing is an error.

    An entry starting with "/" is a path glob (`**` spans directories) matched against the package's canonical
    files; otherwise a package name or name glob. `deb:NAME`/`pypi:NAME`/`npm:NAME` narrow by ecosystem.
    """
    out: dict[str, list[str]] = {}
    for entry in entries:
        hits: list[str] = []
        if entry.startswith("/"):
            rx = path_glob(entry)
            hits = [pid for pid, files in files_of.items() if any(rx.match(f) for f in files)]
        else:
            eco, _, name = entry.rpartition(":") if ":" in entry and not entry.startswith(":") else ("", "", entry)
            pat = name.lower()
            for n, pids in names.items():
                if fnmatch.fnmatchcase(n.lower(), pat):
                    hits += [p for p in pids if not eco or p.startswith(f"pkg:{_purl_type(eco)}/")]
        if not hits:
            if entry.startswith("/"):
                raise UserError(f"keep entry {entry!r} matches no file of any package")
            close = difflib.get_close_matches(entry, sorted(names), n=3, cutoff=0.6)
            raise UserError(
                f"keep entry {entry!r} names no package in this image",
                hint=f"did you mean {', '.join(close)}?" if close else "see `honed sbom IMAGE` for the names",
            )
        for pid in hits:
            out.setdefault(pid, []).append(entry)
    return out


def path_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `**` spans directories, `*` and `?` stay inside one component."""
    return glob_regex(pattern)


def _purl_type(eco: str) -> str:
    return {"deb": "deb", "debian": "deb", "pypi": "pypi", "python": "pypi", "npm": "npm"}.get(eco.lower(), eco)
