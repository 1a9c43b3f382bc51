"""Evidence from a failing verification run, and its mapping to the packages that were removed.

A test that fails on the hardened image mostly fails on something that is *not there*. Two sources say what:
  * the tracer's failed lookups (ENOENT on open/stat/execve: access "missing" in usage.json), and
  * the output tail of the failing driver: the loader's "cannot open shared object file", Python's "No module
    named", Node's "Cannot find module", the shell's "not found", "No such file or directory: '/path'".
Each becomes a `Clue`; `RemovedIndex.attribute` maps a clue to the removed packages whose files explain it.

Pure functions over strings and file lists, so they are tested on real output shapes without a sandbox.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------- clues


@dataclass(frozen=True, slots=True, order=True)
class Clue:
    kind: str  # path | library | module | node-module | program | suffix | package | dist
    value: str
    source: str = ""  # "tracer" or the failing driver's command

    def describe(self) -> str:
        what = {
            "path": "missing file",
            "library": "missing shared library",
            "module": "missing Python module",
            "node-module": "missing Node module",
            "program": "missing program",
            "suffix": "missing file",
            "package": "needs package",
            "dist": "missing Python distribution",
        }.get(self.kind, self.kind)
        src = f" ({self.source})" if self.source else ""
        return f"{what} {self.value}{src}"


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # ld.so and dlopen: "error while loading shared libraries: libssl.so.3: cannot open shared object file"
    ("library", re.compile(r"([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file")),
    ("library", re.compile(r"Library not loaded: ([\w./+-]+\.so[\w.]*)")),
    # Python
    ("module", re.compile(r"No module named '([\w.]+)'")),
    ("module", re.compile(r"No module named ([\w.]+)\s*$", re.M)),
    # importlib.metadata.version("x") / pkg_resources: the dist's metadata is gone, not a module
    ("dist", re.compile(r"No package metadata was found for ([\w.-]+)")),
    ("dist", re.compile(r"The '([\w.-]+)[^']*' distribution was not found")),
    # Node (CommonJS and ESM)
    ("node-module", re.compile(r"Cannot find (?:module|package) '([^'\n]+)'")),
    # Perl
    ("suffix", re.compile(r"Can't locate (\S+\.pm) in @INC")),
    # Shells: "sh: 1: curl: not found", "bash: curl: command not found", "/bin/sh: line 1: curl: not found"
    ("program", re.compile(r"(?:^|[\s:])([\w.+-]+): (?:command )?not found", re.M)),
    ("program", re.compile(r"(/[\w./+-]+): (?:command )?not found")),
    # env(1), Go's exec, Node's spawn
    ("program", re.compile(r"env: ['‘]?([\w./+-]+?)['’]?: No such file or directory")),
    ("program", re.compile(r'exec: "([\w./+-]+)": executable file not found')),
    ("program", re.compile(r"spawn(?:Sync)? ([\w./+-]+) ENOENT")),
    # Any absolute path reported missing: coreutils, Python's FileNotFoundError, Node's ENOENT
    ("path", re.compile(r"No such file or directory: '(/[^'\n]+)'")),
    ("path", re.compile(r"(/[\w.@+-][\w./@+-]*): No such file or directory")),
    ("path", re.compile(r"ENOENT: no such file or directory, \w+ '(/[^'\n]+)'")),
    ("program", re.compile(r"No such file or directory: '([\w.+-]+)'")),
)

# Rarely used, legitimately needed files whose absence shows up as an error message, not a lookup.
_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|unable to get local issuer certificate|"
                r"self[- ]signed certificate in certificate chain|UNABLE_TO_GET_ISSUER_CERT"), "ca-certificates"),
    (re.compile(r"unknown time ?zone|No time zone found|ZoneInfoNotFoundError"), "tzdata"),
)

_NOT_PROGRAMS = frozenset({"sh", "bash", "line", "error", "Error", "1", "2", "3", "command", "file", "module"})


def clues_from_output(text: str, source: str = "") -> list[Clue]:
    """Clues in a failing driver's output tail."""
    out: set[Clue] = set()
    for kind, pat in _PATTERNS:
        for m in pat.finditer(text):
            v = m.group(1).strip()
            if not v:
                continue
            if kind == "program":
                if v.startswith("/"):
                    out.add(Clue("path", v, source))
                    continue
                if v in _NOT_PROGRAMS or v.isdigit():
                    continue
            if kind == "node-module" and (v.startswith(".") or v.startswith("/")):
                if v.startswith("/"):
                    out.add(Clue("path", v, source))
                continue  # a relative require names the app's own file, not a package
            out.add(Clue(kind, v, source))
    for pat, pkg in _MESSAGES:
        if pat.search(text):
            out.add(Clue("package", pkg, source))
    return sorted(out)


def clues_from_paths(paths: Mapping[str, Iterable[str]], source: str = "tracer") -> list[Clue]:
    """Failed lookups from the tracer: every path whose accesses include "missing"."""
    return sorted(
        Clue("path", p, source) for p, acc in paths.items() if "missing" in {getattr(a, "value", a) for a in acc}
    )


# ------------------------------------------------------------------------------------------ removed index

_MERGED = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Directories on Python's sys.path: the stdlib dir, lib-dynload, site-/dist-packages (system, venv, user).
_PY_ROOT = re.compile(r"/(?:python\d(?:\.\d+)?|lib-dynload|site-packages|dist-packages)$")
_BIN_DIRS = frozenset({"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/games"})


def canonical(path: str) -> str:
    """Merged-/usr canonical form, so dpkg's `/lib/x86_64-linux-gnu/libc.so.6` meets a tracer's `/usr/lib/…`."""
    p = posixpath.normpath("/" + path.lstrip("/"))
    for top in _MERGED:
        if p == top or p.startswith(top + "/"):
            return "/usr" + p
    return p


def _pyc_source(path: str) -> str | None:
    """`/x/__pycache__/mod.cpython-311.pyc` -> `/x/mod.py`: Debian lists sources, not generated bytecode."""
    d, base = posixpath.split(path)
    if posixpath.basename(d) != "__pycache__" or not base.endswith(".pyc"):
        return None
    return posixpath.join(posixpath.dirname(d), base.split(".", 1)[0] + ".py")


@dataclass(frozen=True, slots=True)
class Attribution:
    package: str  # removed package name
    clue: Clue
    file: str  # the removed file that explains the clue ("" for a by-name clue)


class RemovedIndex:
    """The files of the removed packages, indexed every way a clue can name them."""

    def __init__(self, removed: Iterable[tuple[str, Iterable[str]]]) -> None:
        """`removed`: (package name, its removed files) per package (from the removal log)."""
        self.by_path: dict[str, set[str]] = defaultdict(set)
        self.by_base: dict[str, set[tuple[str, str]]] = defaultdict(set)  # basename -> (pkg, canonical path)
        self.names: set[str] = set()
        for name, files in removed:
            self.names.add(name)
            for f in files:
                c = canonical(f)
                self.by_path[c].add(name)
                self.by_base[posixpath.basename(c)].add((name, c))
        # Directory entries (a path that is a parent of another listed path) are shared by many packages and
        # never the thing a failing program missed; a missing directory is matched through the files below it.
        parents = {posixpath.dirname(p) for p in self.by_path}
        for p in parents & self.by_path.keys():
            for n in self.by_path.pop(p):
                self.by_base[posixpath.basename(p)].discard((n, p))
        self._sorted = sorted(self.by_path)

    def _under(self, directory: str) -> list[tuple[str, str]]:
        """Removed files below a directory (a missing directory means everything in it went)."""
        import bisect

        prefix = directory.rstrip("/") + "/"
        i = bisect.bisect_left(self._sorted, prefix)
        out: list[tuple[str, str]] = []
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            out.extend((n, self._sorted[i]) for n in sorted(self.by_path[self._sorted[i]]))
            i += 1
        return out

    def attribute(self, clue: Clue) -> list[Attribution]:
        hits: set[tuple[str, str]] = set()
        v = clue.value
        if clue.kind == "path":
            c = canonical(v)
            src = _pyc_source(c)
            for cand in (c, src) if src else (c,):
                hits.update((n, cand) for n in self.by_path.get(cand, ()))
            if not hits and c.count("/") >= 3:
                hits.update(self._under(c))
        elif clue.kind == "library":
            base = posixpath.basename(v)
            hits.update(h for h in self.by_base.get(base, ()) if "/lib" in h[1])
        elif clue.kind == "program":
            hits.update(h for h in self.by_base.get(posixpath.basename(v), ()) if posixpath.dirname(h[1]) in _BIN_DIRS)
        elif clue.kind == "module":
            parts = v.split(".")
            # The first missing component is what matters: "No module named 'yaml.cyaml'" may mean yaml is gone.
            for k in range(1, len(parts) + 1):
                rel = "/".join(parts[:k])
                leaf = parts[k - 1]
                found = list(self._module_files(rel, leaf))
                # An import resolves `a.b` from a sys.path root, not from inside another package (pip's vendored
                # `pip/_vendor/…/json.py` is not the stdlib's `json`): prefer hits right under a root.
                rooted = [(p, o) for p, o in found if _PY_ROOT.search(p[: p.rindex("/" + rel)])]
                for p, owners in rooted or found:
                    hits.update((n, p) for n in owners)
                if hits:
                    break
        elif clue.kind == "node-module":
            parts = v.split("/")
            pkg = "/".join(parts[:2]) if v.startswith("@") else parts[0]
            needle = f"/node_modules/{pkg}/package.json"
            for p in self._sorted:
                if p.endswith(needle):
                    hits.update((n, p) for n in self.by_path[p])
        elif clue.kind == "suffix":
            needle = "/" + v.lstrip("/")
            for p in self._sorted:
                if p.endswith(needle):
                    hits.update((n, p) for n in self.by_path[p])
        elif clue.kind == "package":
            if v in self.names:
                hits.add((v, ""))
        elif clue.kind == "dist":  # PEP 503 names: My_App.x == my-app-x
            norm = re.sub(r"[-_.]+", "-", v).lower()
            hits.update((n, "") for n in self.names if re.sub(r"[-_.]+", "-", n).lower() == norm)
        return [Attribution(n, clue, f) for n, f in sorted(hits)]

    def _module_files(self, rel: str, leaf: str) -> Iterable[tuple[str, set[str]]]:
        pat = re.compile(
            rf"/{re.escape(rel)}(?:\.py|/__init__\.py|(?:\.[\w-]+)?\.so)$"
        )
        for base in (f"{leaf}.py", "__init__.py"):
            for n, p in self.by_base.get(base, ()):
                if pat.search(p):
                    yield p, {n}
        for b, hits in self.by_base.items():
            if b.startswith(leaf + ".") and b.endswith(".so"):
                for n, p in hits:
                    if pat.search(p):
                        yield p, {n}
