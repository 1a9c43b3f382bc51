"""The removal planner: packages × ownership × evidence × findings × policy → what goes, what stays and why.

Pure: it reads the image only through the read-only RootFS (to canonicalise paths and follow symlinks) and
returns values. Every kept package carries its reasons; every removal its rule and an evidence sentence.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from honed.analyze.evidence import METADATA_PREFIXES, Evidence, Hit
from honed.analyze.needs import file_needs
from honed.analyze.ownership import Ownership, anchor
from honed.analyze.policy import FLAGS, Policy, match_keep
from honed.model import DpkgMeta, Ecosystem, Finding, NpmMeta, Package, PythonMeta, Severity

REMOVABLE = (Ecosystem.DEBIAN, Ecosystem.PYPI, Ecosystem.NPM)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a package stays. kind: used | protected | default-keep | keep-list | needed-by | contains |
    contained-in | diverts | depends | preset | not-removable."""

    kind: str
    detail: str
    paths: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # (path, access kinds, evidence kind)

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "detail": self.detail}
        if self.paths:
            d["paths"] = [{"path": p, "access": list(a), "evidence": k} for p, a, k in self.paths]
        return d


@dataclass(frozen=True, slots=True)
class Decision:
    package: Package
    remove: bool
    reasons: tuple[Reason, ...] = ()  # kept: why
    rule: str = ""  # removed: the preset rule that selected it
    evidence: str = ""  # removed: the evidence sentence
    findings: tuple[Finding, ...] = ()
    flags: tuple[str, ...] = ()  # package-manager, shell, user-database, rarely-used, essential
    size: int = 0  # bytes of the files only this package owns
    container: str | None = None  # id of the package whose files hold this one (a dist inside a deb)

    @property
    def id(self) -> str:
        return self.package.id


@dataclass(frozen=True, slots=True)
class UpgradeTarget:
    package_id: str
    name: str
    version: str
    ecosystem: str
    used: bool
    fixed_version: str | None  # the highest fixed version over its findings; None: no fix known
    findings: tuple[tuple[str, str, str | None], ...]  # (id, severity, fixed)
    in_repository: bool | None = None  # Debian: is the fixed version in the release's repository? None: unknown
    repository_version: str | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    image_ref: str
    image_digest: str
    policy: Policy
    decisions: tuple[Decision, ...]
    upgrades: tuple[UpgradeTarget, ...]
    runs: int
    drivers: tuple[str, ...]
    touched: frozenset[str] = frozenset()
    unowned_used: tuple[str, ...] = ()
    distro: Mapping[str, str] = field(default_factory=dict)
    ownership: Ownership | None = field(default=None, compare=False, repr=False)

    @property
    def removed(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.remove)

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.remove)

    def runs_sentence(self) -> str:
        what = ", ".join(self.drivers) if self.drivers else "the profiled runs"
        return f"{self.runs} run{'s' if self.runs != 1 else ''} of: {what}"


# ------------------------------------------------------------------------------------------ helpers


def dep_names(depends: Iterable[str]) -> list[list[str]]:
    """Debian/Python/npm dependency strings → alternatives of bare names (`a (>= 1) | b:any` → [a, b])."""
    out = []
    for d in depends:
        alts = []
        for alt in d.split("|"):
            name = re.split(r"[\s(\[<>=!~;:]", alt.strip(), maxsplit=1)[0].strip()
            if name:
                alts.append(name.lower())
        if alts:
            out.append(alts)
    return out


def _deps_of(p: Package) -> tuple[str, ...]:
    m = p.meta
    if isinstance(m, DpkgMeta):
        return m.depends
    if isinstance(m, PythonMeta):
        return tuple(r for r in m.requires if "extra ==" not in r)
    if isinstance(m, NpmMeta):
        return m.dependencies
    return ()


def _severities(findings: Sequence[Finding]) -> list[Severity]:
    return [f.severity for f in findings if not f.suppressed_by]


def version_key(ecosystem: Ecosystem | str | None, v: str) -> object:
    eco = Ecosystem(ecosystem) if ecosystem else None
    if eco == Ecosystem.DEBIAN:
        from debian.debian_support import Version

        return Version(v)
    if eco == Ecosystem.PYPI:
        from packaging.version import InvalidVersion
        from packaging.version import Version as PyVersion

        try:
            return (0, PyVersion(v))
        except InvalidVersion:
            return (-1, v)
    return tuple((0, int(x)) if x.isdigit() else (-1, x) for x in re.split(r"[.\-+]", v))


# ------------------------------------------------------------------------------------------ planner


def plan(
    packages: Sequence[Package],
    own: Ownership,
    evidence: Evidence,
    findings: Sequence[Finding],
    policy: Policy,
    *,
    runs: int = 0,
    drivers: Sequence[str] = (),
    image_ref: str = "",
    image_digest: str = "",
    distro: Mapping[str, str] | None = None,
) -> Analysis:
    pkgs = {p.id: p for p in sorted(packages, key=lambda p: p.id)}
    by_name = own.by_name()
    fnd: dict[str, list[Finding]] = {}
    for fi in findings:
        fnd.setdefault(fi.package_id, []).append(fi)
    lookups = policy.lookups

    # -- containment: a dist or binary inside a file another package owns moves with that package ------
    container: dict[str, str] = {}
    nested_in: dict[str, str] = {}
    npm_dirs = {own.canon(p.meta.package_dir.rstrip("/")): pid for pid, p in pkgs.items()
                if isinstance(p.meta, NpmMeta) and p.meta.package_dir}
    for pid, p in pkgs.items():
        if p.ecosystem == Ecosystem.DEBIAN:
            continue
        a = anchor(p)
        if not a:
            continue
        ca = own.canon(a.rstrip("/"))
        owners = [o for o in own.owners(ca, canonical=True) if o != pid and pkgs[o].ecosystem == Ecosystem.DEBIAN]
        if not owners and not isinstance(p.meta, PythonMeta | NpmMeta):
            owners = [o for o in own.owners(ca, canonical=True) if o != pid]
        if owners:
            container[pid] = sorted(owners)[0]
        if isinstance(p.meta, NpmMeta):
            d = posixpath.dirname(ca)
            while d not in ("/", ""):
                if posixpath.basename(d) == "node_modules" and posixpath.dirname(d) in npm_dirs:
                    nested_in[pid] = npm_dirs[posixpath.dirname(d)]
                    break
                d = posixpath.dirname(d)

    contained_by: dict[str, list[str]] = {}
    for q, c in container.items():
        contained_by.setdefault(c, []).append(q)
    reasons: dict[str, list[Reason]] = {pid: [] for pid in pkgs}

    def keep(pid: str, r: Reason) -> bool:
        """Add a reason; True if the package was not kept before."""
        new = not reasons[pid]
        if r not in reasons[pid]:
            reasons[pid].append(r)
        return new

    # -- evidence --------------------------------------------------------------------------------------
    for pid in pkgs:
        hits = evidence.counting_hits(pid, lookups)
        if hits:
            keep(pid, _used_reason(hits))
    for pid, cont in sorted(container.items()):
        if evidence.counting_hits(pid, lookups):
            keep(cont, Reason("contains", f"holds {pkgs[pid].name} {pkgs[pid].version}, which was used"))

    # -- policy ------------------------------------------------------------------------------------------
    for pid, p in pkgs.items():
        if p.name in policy.protected:
            keep(pid, Reason("protected", _PROTECTED_WHY.get(p.name, "in the protected set")))
        if p.name in policy.default_keep:
            keep(pid, Reason("default-keep", "rarely used but legitimate (default keep list): "
                             + _RARE_WHY.get(p.name, "needed by programs only in some situations")))
        if p.ecosystem not in REMOVABLE and pid not in container:
            keep(pid, Reason("not-removable", f"honed does not rewrite {p.ecosystem.value} package data; "
                             "remove the file that holds it instead"))
    files_for_keep = {pid: own.package_files(pid) for pid in pkgs}
    for pid, entries in sorted(match_keep(policy.keep, by_name, files_for_keep).items()):
        keep(pid, Reason("keep-list", "on the keep list: " + ", ".join(entries)))
    for pid in pkgs:
        if reasons[pid] or pid in container:
            continue
        sev = _severities(fnd.get(pid, ())) + [s for q in contained_by.get(pid, ()) for s in _severities(fnd.get(q, ()))]
        if not policy.preset_selects(sev):
            keep(pid, Reason("preset", f"unused, but the {policy.preset} preset removes only "
                             + ("packages with a CVE" if policy.preset == "standard" else
                                "packages with a HIGH or CRITICAL CVE")))

    # -- closure: whatever a kept package needs stays ------------------------------------------------------
    divert_by: dict[str, str] = {}
    for dv in own.diversions:
        for pid in by_name.get(dv.by, ()):
            divert_by[own.canon(dv.diverted_to)] = pid
    runtime = _RuntimeNeeds(own)
    # honed never removes unowned files: the app's own programs (COPYed binaries) must still load too
    for why, options in runtime.unowned_needs():
        if options and not any(all(reasons[o] for o in opt) for opt in options):
            for o in options[0]:
                keep(o, Reason("links", why))
    work = sorted(pid for pid in pkgs if reasons[pid])
    while work:
        pid = work.pop()
        p = pkgs[pid]
        nxt: list[tuple[str, Reason]] = []
        kinds = {r.kind for r in reasons[pid]}
        if kinds & WHOLE:
            # kept whole without evidence: its programs and libraries must still load (scripts' interpreters
            # too, unless kept only for its data: libc-bin's `ldd` script would keep bash in every image)
            for why, options in runtime.providers(pid, scripts=bool(kinds & WHOLE_PROGRAMS)):
                kept_opt = next((opt for opt in options if opt and all(reasons[o] for o in opt)), None)
                for o in kept_opt or (options[0] if options else []):
                    # also on a package kept only by evidence: files mode must not trim what this one needs
                    if not reasons[o] or {r.kind for r in reasons[o]} <= _TRIMMABLE:
                        nxt.append((o, Reason("links", f"{p.name} {why}")))
        elif "used" in kinds:
            # used, so it stays with every program it ships, run or not: each must still start (coreutils'
            # `id` needs libselinux1 though the tests only ran `sleep`). Programs only: a used interpreter's
            # unused extension modules (lib-dynload/_sqlite3) would keep libraries nothing loads.
            for why, options in runtime.providers(pid, scripts=False, programs_only=True):
                if options and not any(all(reasons[o] for o in opt) for opt in options):
                    nxt.extend((o, Reason("links", f"{p.name} {why}")) for o in options[0])
        if pid in container:
            c = container[pid]
            nxt.append((c, Reason("contains", f"holds {p.name} {p.version}, which is kept")))
        for q in contained_by.get(pid, ()):
            nxt.append((q, Reason("contained-in", f"its files belong to {p.name} {p.version}, which is kept")))
        if pid in nested_in:
            nxt.append((nested_in[pid], Reason("contains", f"its node_modules hold {p.name}, which is kept")))
        for f in own.package_files(pid):
            if f in own.dirs:
                continue
            if f.startswith(METADATA_PREFIXES):
                # a doc/man symlink into another package (/usr/share/doc/libfoo-dev → libfoo1) needs
                # nothing to run; it may dangle rather than keep a package for nothing
                continue
            if f in divert_by and divert_by[f] != pid:
                nxt.append((divert_by[f], Reason("diverts", f"diverted {f} of kept {p.name}")))
            t = own.canon.link_target(f)
            hops = 0
            while t is not None and hops < 40:
                for o in own.owners(t, canonical=True):
                    if o != pid and t not in own.dirs:
                        nxt.append((o, Reason("needed-by", f"{p.name}'s symlink {f} points at its {t}")))
                t = own.canon.link_target(t)
                hops += 1
        if policy.follow_depends:
            for alts in dep_names(_deps_of(p)):
                cands = [o for a in alts for o in by_name.get(a, ()) if pkgs[o].ecosystem == p.ecosystem]
                if cands and not any(reasons[o] for o in cands):
                    nxt.append((cands[0], Reason("depends", f"a dependency of kept {p.name}")))
        for o, r in nxt:
            if keep(o, r):
                work.append(o)

    # -- decisions ---------------------------------------------------------------------------------------
    decisions = []
    rule = policy.preset_rule()
    for pid, p in pkgs.items():
        pf = tuple(sorted(fnd.get(pid, ()), key=lambda x: (-x.severity.rank, x.advisory.id)))
        flags = tuple(sorted(({FLAGS[p.name]} if p.name in FLAGS else set()) | _content_flags(own, pid)))
        size = _exclusive_size(own, pid)
        if reasons[pid]:
            decisions.append(Decision(p, False, tuple(reasons[pid]), findings=pf, flags=flags, size=size,
                                      container=container.get(pid)))
        else:
            decisions.append(Decision(p, True, (), rule=rule, evidence=_sentence(evidence.hits.get(pid, ()),
                                      runs, drivers, lookups), findings=pf, flags=flags, size=size,
                                      container=container.get(pid)))
    used_ids = {d.id for d in decisions if any(r.kind == "used" for r in d.reasons)}
    upgrades = _upgrades([d for d in decisions if not d.remove and d.findings], used_ids)
    return Analysis(
        image_ref=image_ref,
        image_digest=image_digest,
        policy=policy,
        decisions=tuple(decisions),
        upgrades=upgrades,
        runs=runs,
        drivers=tuple(drivers),
        touched=frozenset(evidence.touched),
        unowned_used=tuple(sorted(evidence.unowned_used)),
        distro=dict(distro or {}),
        ownership=own,
    )


_PROTECTED_WHY = {
    "base-files": "protected: /etc/os-release identifies the distribution to every scanner",
    "libc6": "protected: the dynamic loader, NSS and gconv modules any program may load",
}
_RARE_WHY = {
    "ca-certificates": "the TLS trust store, needed by any HTTPS call",
    "tzdata": "time zone data for local time",
    "netbase": "/etc/services and /etc/protocols for name lookups",
    "media-types": "/etc/mime.types for content types",
    "libc-bin": "the C.UTF-8 locale data and ldconfig",
    "libgcc-s1": "loaded by glibc on thread cancellation and C++ unwinding",
}


# Files that are used rarely but legitimately: removing a package that ships them deserves a second look.
_RARE_CONTENT = tuple((re.compile(rx), flag) for rx, flag in (
    (r"/usr/lib/[^/]+/libnss_[^/]*", "nss-modules"),
    (r"/usr/lib/[^/]+/gconv/[^/]*", "gconv-modules"),
    (r"/usr/share/zoneinfo/.*", "time-zones"),
    (r"/usr/share/ca-certificates/.*|/etc/ssl/certs/.*", "ca-certificates"),
    (r"/usr/lib/locale/.*|/usr/share/i18n/.*", "locales"),
    (r"/etc/(passwd|group|shadow|nsswitch\.conf)", "user-database"),
))


# Reasons that keep a package whole without evidence of what in it runs: all of it must still work.
WHOLE = frozenset({"preset", "keep-list", "default-keep", "protected", "links"})
WHOLE_PROGRAMS = frozenset({"preset", "keep-list", "links"})  # not default-keep/protected: kept for data
_TRIMMABLE = frozenset({"used", "needed-by", "contains", "contained-in", "depends"})  # executor's files mode


class _RuntimeNeeds:
    """For a package's files: the packages holding their DT_NEEDED libraries (by soname, in library dirs) and
    script interpreters, every symlink hop included (libtinfo.so.6 → libtinfo.so.6.4, python3 → python3.11)."""

    def __init__(self, own: Ownership) -> None:
        self.own = own
        self._sonames: dict[str, list[str]] | None = None

    def _by_soname(self, soname: str) -> list[str]:
        if self._sonames is None:
            self._sonames = {}
            for path, info in self.own.entries.items():
                if ".so" in path and "/lib" in path and info.kind in ("file", "symlink"):
                    self._sonames.setdefault(posixpath.basename(path), []).append(path)
        return sorted(self._sonames.get(soname, ()))

    def _owners_along(self, path: str) -> list[str]:
        out: list[str] = []
        cur: str | None = self.own.canon(path)
        for _ in range(40):
            if cur is None or cur in self.own.dirs:
                break
            out += [o for o in self.own.owners(cur, canonical=True) if o not in out]
            cur = self.own.canon.link_target(cur)
        return out

    def providers(
        self, pid: str, *, scripts: bool = True, programs_only: bool = False
    ) -> list[tuple[str, list[list[str]]]]:
        """Per need of the package's files: why, and the alternative owner sets that satisfy it (a soname
        found in several dirs: the standard library dirs first). Needs met inside the package are dropped.
        `programs_only`: only the files in bin/sbin directories."""
        files: Iterable[str] = self.own.package_files(pid)
        if programs_only:
            files = [f for f in files if posixpath.basename(posixpath.dirname(f)) in ("bin", "sbin")]
        return self._needs(files, pid, scripts)

    def unowned_needs(self) -> list[tuple[str, list[list[str]]]]:
        """The same for unowned programs and libraries (in bin/sbin dirs, /usr/local/lib): sonames only, as an
        app's scripts (tools, dev helpers) would otherwise keep every interpreter they name."""
        files = [p for p, i in self.own.entries.items()
                 if i.kind == "file" and (posixpath.basename(posixpath.dirname(p)) in ("bin", "sbin")
                                          or p.startswith("/usr/local/lib/"))
                 and not self.own.owners(p, canonical=True)]
        return self._needs(sorted(files), None, False)

    def _needs(self, files: Iterable[str], pid: str | None, scripts: bool) -> list[tuple[str, list[list[str]]]]:
        out: list[tuple[str, list[list[str]]]] = []
        seen: set[tuple[str, str]] = set()
        for f in files:
            info = self.own.canon.lstat(f)
            if info is None or info.kind != "file":
                continue
            for kind, value in file_needs(self.own.fs, f, info.mode, info.size):
                if (kind, value) in seen or (kind != "soname" and not scripts):
                    continue
                seen.add((kind, value))
                if kind == "soname":
                    cands = self._by_soname(value)
                elif kind == "program":  # found on PATH when it runs: the first that exists
                    cands = [c for c in (f"{d}/{value}" for d in _PATH) if self.own.canon.lstat(self.own.canon(c))][:1]
                else:
                    cands = [value]
                cands.sort(key=lambda c: posixpath.dirname(c) not in _LIB_DIRS)
                options = [self._owners_along(c) for c in cands]
                if any(pid in opt or not opt for opt in options):
                    continue  # met inside the package, or by an unowned file (never removed)
                out.append((f"needs {value} ({f})", [[o for o in opt] for opt in options if opt]))
        return out


_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_LIB_DIRS = frozenset({"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/lib64",
                       "/usr/local/lib", "/lib", "/lib64"})


def _content_flags(own: Ownership, pid: str) -> set[str]:
    out = set()
    for f in own.package_files(pid):
        for rx, flag in _RARE_CONTENT:
            if flag not in out and rx.fullmatch(f):
                out.add(flag)
    return out


def _used_reason(hits: Sequence[Hit]) -> Reason:
    strong = [h for h in hits if h.kind == "strong"]
    kinds = sorted({a for h in hits for a in h.access})
    n = len(hits)
    if strong:
        detail = f"{n} of its files used ({', '.join(kinds)})"
    else:
        detail = f"only looked up ({n} file{'s' if n != 1 else ''}: stat/access, no open or exec)"
    via = sorted({h.via for h in hits if h.via})
    if via:
        detail += f"; via {', '.join(via)}"
    shown = tuple((h.path, h.access, h.kind if not h.via else f"{h.kind} via {h.via}") for h in hits[:20])
    return Reason("used", detail, shown)


def _sentence(hits: Sequence[Hit], runs: int, drivers: Sequence[str], lookups: str) -> str:
    what = ", ".join(drivers) if drivers else "the profiled runs"
    base = f"no file of this package was opened, executed or looked up in {runs} run{'s' if runs != 1 else ''} of: {what}"
    kinds = sorted({h.kind for h in hits})
    if not kinds:
        return base
    notes = []
    if "metadata" in kinds:
        notes.append("only its package metadata was read")
    if "startup-hook" in kinds:
        notes.append("only its .pth startup hook ran (removed with it)")
    if "lookup" in kinds and lookups != "count":
        notes.append("its files were only looked up (stat), which the policy does not count")
    base = base.replace("no file of this package was opened, executed or looked up",
                        "no file of this package was opened or executed")
    return base + " (" + "; ".join(notes) + ")"


def _exclusive_size(own: Ownership, pid: str) -> int:
    total = 0
    for f in own.package_files(pid):
        if f in own.dirs or len(own.by_path.get(f, ())) != 1:
            continue
        info = own.canon.lstat(f)
        if info is not None and info.kind == "file":
            total += info.size
    return total


def _upgrades(kept: Sequence[Decision], used_ids: set[str]) -> tuple[UpgradeTarget, ...]:
    out = []
    for d in kept:
        active = [f for f in d.findings if not f.suppressed_by]
        if not active:
            continue
        eco = d.package.ecosystem
        fixed = [f.fixed_version for f in active if f.fixed_version]
        best: str | None = None
        if fixed:
            try:
                best = max(fixed, key=lambda v: version_key(eco, v))  # type: ignore[arg-type,return-value]
            except (TypeError, ValueError):
                best = sorted(fixed)[-1]
        out.append(UpgradeTarget(
            package_id=d.id, name=d.package.name, version=d.package.version, ecosystem=eco.value,
            used=d.id in used_ids, fixed_version=best,
            findings=tuple((f.advisory.id, f.severity.value, f.fixed_version) for f in active),
        ))
    return tuple(sorted(out, key=lambda u: (not u.used, u.name, u.package_id)))
