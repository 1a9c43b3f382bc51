"""Runtime evidence → the packages it proves used, with the reason for each credit.

Which evidence marks a package used (documented in notes/harden.md, and named per hit in the analysis):
- open / exec / map of a file the package owns: used ("strong").
- a symlink the program went through (reported by the tracer as the link path, or found while following a
  reported link): the link's owner counts with the same access as the target; so do owned symlinks in the
  *directory* part of a path (`/usr/lib/jvm/default-java/bin/java`). Directory entries never count: dpkg
  lists `/bin`, `/lib`… as directories that the image has as merged-/usr symlinks, and dozens of packages
  list `/usr/share/doc`.
- lookup (stat/access) of an existing non-directory file: counts by default (`lookups: count`): a program
  that checks for `/usr/bin/git` may behave differently without it. `lookups: ignore` turns it off.
- never evidence: failed lookups (the file is not there), reads of package *metadata* (dist-info /
  egg-info files, npm package.json, /var/lib/dpkg, docs, man pages: pytest and importlib.metadata read every
  dist's entry_points.txt), and files a `.pth` startup hook imports from its own dist (they run at every
  interpreter start, whatever the app does; removing the dist removes the hook with it).
- evidence on a file no package owns is followed: `__pycache__/m.cpython-311.pyc` → `m.py`'s owner;
  an unowned symlink (`/etc/localtime`, `/etc/alternatives/*`, venv `python`, CA hash links) → its target's
  owner; known generated files (the CA bundle, ld.so.cache) → the package whose scripts generate them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from honed.analyze.ownership import Ownership
from honed.model import Access, NpmMeta, PythonMeta

STRONG = frozenset({Access.OPEN, Access.EXEC, Access.MAP})
MAX_HOPS = 40

# Unowned files that a package's maintainer scripts generate: pattern → package names (evidence on them
# credits the package; removing the package removes them).
GENERATED: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(rx), names)
    for rx, names in (
        (r"/etc/ssl/certs/ca-certificates\.crt", ("ca-certificates",)),
        (r"/etc/ssl/certs/java/cacerts", ("ca-certificates-java",)),
        (r"/etc/ca-certificates\.conf", ("ca-certificates",)),
        (r"/etc/ld\.so\.cache", ("libc-bin",)),
        (r"/usr/lib/locale/locale-archive", ("locales", "locales-all")),
        (r"/etc/timezone", ("tzdata",)),
        (r"/var/cache/fontconfig/.*", ("fontconfig",)),
        (r"/var/cache/debconf/.*", ("debconf",)),
        (r"/usr/lib/jvm/[^/]+/lib/security/cacerts", ("ca-certificates-java",)),
    )
)

PROGRAM_DIRS = frozenset({"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin"})

METADATA_PREFIXES = ("/var/lib/dpkg/", "/usr/share/doc/", "/usr/share/man/", "/usr/share/info/",
                     "/usr/share/lintian/", "/usr/share/bug/")

_PYC = re.compile(r"^(?P<dir>.*?)/__pycache__/(?P<stem>[^/.]+)\.[^/]*\.pyc$")
_QUOTED_ABS = re.compile(r"""['"](/[^'"\n]+)['"]""")
_PTH_IMPORT = re.compile(r"""__import__\(\s*['"]([A-Za-z_][\w.]*)['"]|^\s*import\s+([\w., ]+)""")


def pyc_source(path: str) -> str | None:
    """`d/__pycache__/m.cpython-311[.opt-1].pyc` or legacy `d/m.pyc` → `d/m.py`."""
    m = _PYC.match(path)
    if m:
        return f"{m['dir']}/{m['stem']}.py"
    if path.endswith(".pyc") and "/__pycache__/" not in path:
        return path[:-1]
    return None


def generated_by(path: str) -> tuple[str, ...]:
    for rx, names in GENERATED:
        if rx.fullmatch(path):
            return names
    return ()


@dataclass(frozen=True, slots=True)
class Hit:
    """One piece of evidence credited to a package."""

    path: str  # the package's (canonical) path that got the credit
    access: tuple[str, ...]  # access kinds, sorted
    kind: str  # strong | lookup | metadata | startup-hook
    via: str = ""  # "", symlink, bytecode, generated, image-config
    reported: str = ""  # the path as the usage report gave it, when different

    def counts(self, lookups: str) -> bool:
        return self.kind == "strong" or (self.kind == "lookup" and lookups == "count")

    def describe(self) -> str:
        s = f"{self.path} ({'/'.join(self.access)}"
        if self.via:
            s += f", via {self.via}"
        if self.reported and self.reported != self.path:
            s += f" from {self.reported}"
        return s + ")"


class Evidence:
    """Per package id: the hits, in first-seen order (deterministic: usage paths are processed sorted)."""

    def __init__(self, own: Ownership) -> None:
        self.own = own
        self.hits: dict[str, list[Hit]] = {}
        self.touched: set[str] = set()  # canonical paths with any (non-missing) evidence
        self.unowned_used: set[str] = set()  # used paths nobody owns (app code, generated files)
        self._ran: set[str] = set()  # canonical paths executed
        self._meta_dirs = self._metadata_dirs()
        self._hook_dirs: dict[str, set[str]] = {}  # .pth file → directories it puts on sys.path
        self._asked_meta: set[str] = set()  # METADATA/PKG-INFO files read selectively (see add_usage)
        self._hook_paths = self._startup_hook_paths()
        names = own.by_name()
        self._by_name = names

    # -- classification -----------------------------------------------------------------------------
    def _metadata_dirs(self) -> tuple[set[str], set[str]]:
        dirs, files = set(), set()
        for p in self.own.packages.values():
            m = p.meta
            if isinstance(m, PythonMeta) and m.dist_dir:
                dirs.add(self.own.canon(m.dist_dir))
            elif isinstance(m, NpmMeta) and m.package_dir:
                files.add(self.own.canon(m.package_dir.rstrip("/") + "/package.json"))
        return dirs, files

    def is_metadata(self, c: str) -> bool:
        if c.startswith(METADATA_PREFIXES):
            return True
        dirs, files = self._meta_dirs
        if c in files:
            return True
        d = posixpath.dirname(c)
        return d in dirs or posixpath.dirname(d) in dirs

    def _startup_hook_paths(self) -> set[str]:
        """Each .pth file of a dist, and the modules of the same dist its `import` lines pull in."""
        out: set[str] = set()
        for pid in self.own.packages:  # pip dists and Debian's python3-* packages both ship hooks
            pths = [f for f in self.own.package_files(pid) if f.endswith(".pth")]
            if not pths:
                continue
            files = set(self.own.package_files(pid))
            for f in sorted(pths):
                out.add(f)
                try:
                    text = self.own.fs.read_bytes(f, limit=65536).decode("utf-8", "replace")
                except OSError:
                    continue
                site = posixpath.dirname(f)
                dirs = self._hook_dirs.setdefault(f, set())
                for line in text.splitlines():
                    line_s = line.strip()
                    if line_s and not line_s.startswith(("#", "import ", "import\t")):
                        dirs.add(posixpath.normpath(posixpath.join(site, line_s)))  # site.py: a sys.path entry
                    dirs.update(_QUOTED_ABS.findall(line))
                    for m in _PTH_IMPORT.finditer(line):
                        mods = [m.group(1)] if m.group(1) else [x.strip() for x in m.group(2).split(",")]
                        for mod in mods:
                            top = mod.split(".")[0].split(" ")[0]
                            if not top:
                                continue
                            for f2 in files:
                                if (f2 == f"{site}/{top}.py" or f2.startswith(f"{site}/{top}/")
                                        or f2.startswith(f"{site}/__pycache__/{top}.")):
                                    out.add(f2)
                                    if f2.endswith(".py"):  # an import hook (setuptools' editable finder)
                                        dirs.update(self._quoted_dirs(f2))
                                    src = pyc_source(f2)
                                    if src:
                                        out.add(src)
        return out

    def _quoted_dirs(self, path: str) -> set[str]:
        try:
            return set(_QUOTED_ABS.findall(self.own.fs.read_bytes(path, limit=262144).decode("utf-8", "replace")))
        except OSError:
            return set()

    # -- crediting ----------------------------------------------------------------------------------
    def add_usage(self, paths: Mapping[str, Iterable[Access | str]]) -> None:
        self._asked_meta = self._selective_metadata_reads(paths)
        for raw in sorted(paths):
            kinds = frozenset(Access(k) for k in paths[raw]) - {Access.MISSING}
            if kinds:
                self._credit(raw, kinds, raw, "", 0)
        self._credit_sys_path_hooks()

    def _selective_metadata_reads(self, paths: Mapping[str, Iterable[Access | str]]) -> set[str]:
        """METADATA / PKG-INFO files opened when the run did not read those of most dists: that is
        `importlib.metadata.version("myapp")` asking for one dist by name (an app run from its source dir reads
        the installed copy's version: without the dist, PackageNotFoundError on every start). Reading nearly
        all of them is an enumeration (`import pkg_resources`, `pip list`): no evidence, as for entry_points."""
        dist_dirs = {self.own.canon(p.meta.dist_dir) for p in self.own.packages.values()
                     if isinstance(p.meta, PythonMeta) and p.meta.dist_dir}
        read = set()
        for raw, kinds in paths.items():
            c = self.own.canon(raw)
            if (posixpath.basename(c) in ("METADATA", "PKG-INFO") and posixpath.dirname(c) in dist_dirs
                    and Access.OPEN in {Access(k) for k in kinds}):
                read.add(c)
        return read if len(read) <= 2 or len(read) * 2 < len(dist_dirs) else set()  # few dists: keep them

    def _credit_sys_path_hooks(self) -> None:
        """A .pth hook that puts a directory of used files on sys.path is what makes them importable: an
        editable install (`pip install -e`, Poetry's project) is a dist of metadata plus a .pth naming the
        source dir (or importing a finder that maps to it). Without its dist the app's imports fail."""
        used = set(self.unowned_used)
        for hits in self.hits.values():
            used.update(h.path for h in hits if h.kind == "strong")
        for pth, dirs in sorted(self._hook_dirs.items()):
            site = posixpath.dirname(pth)
            for d in sorted({self.own.canon(x) for x in dirs} - {"/", site}):
                if any(u.startswith(d + "/") for u in used):
                    for pid in self.own.owners(pth, canonical=True):
                        self._add(pid, Hit(pth, ("open",), "strong", f"sys.path entry {d} of used files"))
                    break

    def add_program_links(self) -> None:
        """Symlinks in program directories that resolve to a program that ran: fanotify reports only the final
        target, yet a shebang (`#!/usr/bin/python3`) or a PATH lookup went through the link, so the link's
        package is needed (python3-minimal owns /usr/bin/python3 → python3.11)."""
        ran = self._ran
        if not ran:
            return
        for path, info in self.own.entries.items():
            if info.kind != "symlink" or posixpath.dirname(path) not in PROGRAM_DIRS:
                continue
            owners = self.own.owners(path, canonical=True)
            if not owners or path in self.touched:
                continue
            cur: str | None = path
            for _ in range(MAX_HOPS):
                nxt = self.own.canon.link_target(cur) if cur is not None else None
                if nxt is None:
                    break
                cur = nxt
            if cur in ran:
                self._credit_path(path, frozenset({Access.EXEC}), "", "link to a program that ran", owners)

    def add_config(self, executables: Sequence[Sequence[str]]) -> None:
        """Programs the image config names (entrypoint, cmd, healthcheck): executed whenever it runs.
        Each program is a list of candidates (PATH search order); the first that exists counts."""
        for cands in executables:
            for exe in cands:
                if self.own.fs.stat(exe) is not None:
                    self._credit(exe, frozenset({Access.EXEC}), exe, "image-config", 0)
                    break

    def add_config_env(self, config: Mapping[str, object] | None) -> None:
        """Files the image config's Env names (`SSL_CERT_FILE=…/certifi/cacert.pem`, `LD_PRELOAD=…`,
        `REQUESTS_CA_BUNDLE`, `PYTHONSTARTUP`): the runtime reads them whenever the app takes that path, which a
        test suite that mocks HTTPS never does. Directories (PATH, HOME) are never evidence, as everywhere."""
        cfg = (config or {}).get("config", config) or {}
        for e in cfg.get("Env") or [] if isinstance(cfg, dict) else []:
            name, _, value = str(e).partition("=")
            for v in re.split(r"[:\s,;]+", value):
                if v.startswith("/") and self.own.fs.stat(v) is not None:
                    self._credit(v, frozenset({Access.OPEN}), v, f"image-config env {name}", 0)

    def _add(self, pid: str, hit: Hit) -> None:
        lst = self.hits.setdefault(pid, [])
        if hit not in lst:
            lst.append(hit)

    def _credit_path(self, c: str, kinds: frozenset[Access], reported: str, via: str, owners: Sequence[str]) -> None:
        self.touched.add(c)
        if c in self._hook_paths:
            kind = "startup-hook"
        elif c in self._asked_meta and Access.OPEN in kinds:
            kind, via = "strong", via or "metadata read by name"
        elif self.is_metadata(c):
            kind = "metadata"
        elif kinds & STRONG:
            kind = "strong"
        else:
            kind = "lookup"
        if Access.EXEC in kinds:
            self._ran.add(c)
        acc = tuple(sorted(k.value for k in kinds))
        for pid in owners:
            self._add(pid, Hit(c, acc, kind, via, reported if reported != c else ""))

    def _credit(self, raw: str, kinds: frozenset[Access], reported: str, via: str, depth: int) -> None:
        own = self.own
        c = own.canon(raw)
        if depth == 0 and c != posixpath.normpath("/" + raw.lstrip("/")):
            self._credit_dir_links(raw, kinds, reported)
        info = own.canon.lstat(c)
        if c in own.dirs or (info is not None and info.kind == "dir"):
            if info is not None and info.kind == "dir":
                self.touched.add(c)  # never evidence for a package, but the app may write there: it stays
            return
        if info is None or info.kind == "other":
            return
        owners = own.owners(c, canonical=True)
        if info.kind == "symlink":
            self._credit_path(c, kinds, reported, via or "symlink", owners)
            target = own.canon.link_target(c)
            if target is not None and depth < MAX_HOPS:
                self._credit(target, kinds, reported, via or "symlink", depth + 1)
            return
        if owners:
            self._credit_path(c, kinds, reported, via, owners)
            return
        src = pyc_source(c)
        if src is not None and own.owners(src):
            self.touched.add(c)
            self._credit(src, kinds, reported, "bytecode", depth + 1)
            return
        gen = [pid for n in generated_by(c) for pid in self._by_name.get(n, ())]
        if gen:
            self._credit_path(c, kinds, reported, "generated", gen)
            return
        self.touched.add(c)
        if kinds & STRONG:
            self.unowned_used.add(c)

    def _credit_dir_links(self, raw: str, kinds: frozenset[Access], reported: str) -> None:
        """Owned symlinks among the directories of a reported path (not merged-/usr dir entries)."""
        parts = [p for p in raw.split("/") if p]
        for i in range(1, len(parts)):
            prefix = "/" + "/".join(parts[:i])
            c = self.own.canon(prefix)
            if c in self.own.dirs:
                continue
            info = self.own.canon.lstat(c)
            if info is not None and info.kind == "symlink":
                owners = self.own.owners(c, canonical=True)
                if owners:
                    self._credit_path(c, kinds, reported, "symlink", owners)

    # -- queries ------------------------------------------------------------------------------------
    def counting_hits(self, pid: str, lookups: str) -> list[Hit]:
        return [h for h in self.hits.get(pid, ()) if h.counts(lookups)]


def config_executables(config: Mapping[str, object] | None) -> list[list[str]]:
    """argv[0] of the image's entrypoint/cmd and healthcheck, resolved against the config's PATH."""
    if not config:
        return []
    cfg = config.get("config") if isinstance(config.get("config"), dict) else config
    assert isinstance(cfg, dict)
    env = {}
    for e in cfg.get("Env") or []:
        k, _, v = str(e).partition("=")
        env[k] = v
    path_dirs = (env.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")
    argv = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    progs = [str(argv[0])] if argv else []
    hc = cfg.get("Healthcheck")
    if isinstance(hc, dict):
        test = list(hc.get("Test") or [])
        if test and test[0] == "CMD" and len(test) > 1:
            progs.append(str(test[1]))
        elif test and test[0] == "CMD-SHELL":
            progs.append("/bin/sh")
    out: list[list[str]] = []
    for prog in progs:
        if "/" in prog:
            out.append([prog if prog.startswith("/") else "/" + prog])
        else:
            out.append([f"{d.rstrip('/')}/{prog}" for d in path_dirs if d])
    return out
