"""The small typed data model every stage shares.

Everything here is a frozen, slotted dataclass: stages pass values, never mutate them. Collections are
tuples so instances stay hashable and comparisons stay cheap. Stages import this module and the stages
before them, never one after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# --------------------------------------------------------------------------------------------------- image


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where an image comes from: a transport, its reference, and (once resolved) the manifest digest."""

    transport: str  # oci, oci-archive, docker-archive, docker, docker-daemon, containers-storage
    reference: str  # path or registry reference, without the transport prefix and tag
    tag: str | None = None
    digest: str | None = None  # sha256:… of the manifest, once known

    def __str__(self) -> str:
        s = f"{self.transport}:{self.reference}"
        if self.tag:
            s += f":{self.tag}"
        return s


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str  # digest of the blob as stored (compressed)
    diff_id: str  # digest of the uncompressed tar
    size: int  # compressed size in bytes
    media_type: str
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    """A path in the image's final filesystem and the layer (diff_id) that introduced it."""

    path: str
    layer: str | None = None


# ------------------------------------------------------------------------------------------------- catalog


class Ecosystem(str, Enum):
    DEBIAN = "deb"
    ALPINE = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    MAVEN = "maven"
    GO = "golang"
    CARGO = "cargo"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class DpkgMeta:
    source: str
    source_version: str
    arch: str
    depends: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    conffiles: tuple[str, ...] = ()
    installed_size: int = 0  # bytes
    status_path: str = "/var/lib/dpkg/status"
    dirs: tuple[str, ...] = ()  # entries of the .list that are directories (files holds the rest)


@dataclass(frozen=True, slots=True)
class ApkMeta:
    origin: str
    arch: str = ""
    depends: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RpmMeta:
    source_rpm: str = ""
    epoch: int | None = None
    release: str = ""
    arch: str = ""
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PythonMeta:
    dist_dir: str  # the .dist-info / .egg-info directory
    files: tuple[str, ...] = ()  # absolute paths from RECORD / installed-files.txt
    requires: tuple[str, ...] = ()
    installer: str = ""


@dataclass(frozen=True, slots=True)
class NpmMeta:
    package_dir: str
    files: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JarMeta:
    archive_path: str  # the jar (for nested jars: outer!/inner)
    group_id: str = ""
    artifact_id: str = ""
    sha1: str = ""


@dataclass(frozen=True, slots=True)
class GoModMeta:
    binary_path: str
    go_version: str = ""
    main_module: str = ""
    sum: str = ""


@dataclass(frozen=True, slots=True)
class BinaryMeta:
    path: str
    matched_by: str = ""  # the rule that identified it, "" for an unidentified ELF


PackageMeta = DpkgMeta | ApkMeta | RpmMeta | PythonMeta | NpmMeta | JarMeta | GoModMeta | BinaryMeta


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    ecosystem: Ecosystem
    purl: str
    locations: tuple[Location, ...] = ()
    licenses: tuple[str, ...] = ()  # SPDX expressions where known
    found_by: str = ""
    meta: PackageMeta | None = None

    @property
    def id(self) -> str:
        """A stable identity inside one image: the purl plus the first location."""
        loc = self.locations[0].path if self.locations else ""
        return f"{self.purl}@{loc}"

    @property
    def files(self) -> tuple[str, ...]:
        m = self.meta
        return getattr(m, "files", ()) if m is not None else ()


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that went wrong in one part of the input; the run went on. `--strict` makes it fatal."""

    path: str
    message: str
    stage: str = ""


# ---------------------------------------------------------------------------------------------------- vuln


class Severity(str, Enum):
    UNKNOWN = "UNKNOWN"
    NEGLIGIBLE = "NEGLIGIBLE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, text: str) -> Severity:
        t = text.strip().upper()
        if t == "MODERATE":
            return cls.MEDIUM
        return cls(t)


_SEVERITY_ORDER = [
    Severity.UNKNOWN,
    Severity.NEGLIGIBLE,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
]


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    severity: Severity = Severity.UNKNOWN
    cvss_vector: str = ""
    cvss_score: float | None = None
    kev: bool = False
    malicious: bool = False
    urgency: str = ""  # Debian tracker urgency, e.g. "unimportant"
    references: tuple[str, ...] = ()
    published: str = ""
    modified: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    advisory: Advisory
    package_id: str  # Package.id
    package_name: str
    installed_version: str
    fixed_version: str | None = None  # None: no fix known ("not fixed")
    ecosystem: Ecosystem | None = None
    suppressed_by: str = ""  # ignore-file or VEX reason; the finding stays in the report

    @property
    def severity(self) -> Severity:
        return self.advisory.severity


# ------------------------------------------------------------------------------------------------- profile


class Access(str, Enum):
    OPEN = "open"
    EXEC = "exec"
    MAP = "map"
    LOOKUP = "lookup"  # stat/access/readlink, or a symlink traversed on the way
    MISSING = "missing"  # a failed lookup (ENOENT)


@dataclass(frozen=True, slots=True)
class DriverResult:
    kind: str  # test, http, host-test, duration
    command: str
    ok: bool
    exit_code: int | None = None
    seconds: float = 0.0
    output_tail: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Runtime evidence from one profiled run: path -> the kinds of access seen."""

    run_id: str
    image_digest: str
    accesses: tuple[tuple[str, tuple[Access, ...]], ...] = ()
    drivers: tuple[DriverResult, ...] = ()
    tracer: str = ""
    seconds: float = 0.0

# The analysis, the removal log and the hardening record are versioned JSON documents (honed.analysis/v1,
# honed.removal-log/v1, honed.summary/v1) built by their stages; see analyze/, harden/ and report/record.py.
