"""The hardening record on disk: its files, SHA256SUMS, the signed attestation, and the check of all three.

Writing is all-or-nothing: the files go into a temp directory beside the destination, which is renamed into
place only once SHA256SUMS and the attestation are written. A run killed half-way leaves a dot-prefixed
temp directory (never something that looks like a record); the next run sweeps temp directories whose
writer is gone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.atomic import atomic_dir, commit_dir
from honed.errors import UserError
from honed.report import attestation as att

log = logging.getLogger(__name__)

SUMS = "SHA256SUMS"
ATTESTATION = "attestation.intoto.jsonl"

# DESIGN §3: the record of a pipeline run, in this order.
RECORD_FILES = (
    "baseline-scan.json",
    "baseline-scan.sarif",
    "sbom.cdx.json",
    "usage.json",
    "analysis.json",
    "removal-log.json",
    "hardened-scan.json",
    "hardened-scan.sarif",
    "tests.junit.xml",
    "vex.openvex.json",
    "summary.json",
    "report.html",
    SUMS,
    ATTESTATION,
)

_PIDFILE = ".honed-writer.pid"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RecordMismatchError(UserError):
    """The record on disk is not the record that was signed: exit 3, naming the first mismatch."""


class RecordDestinationError(UserError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256sums(files: Mapping[str, bytes]) -> bytes:
    """coreutils format ("HEX  NAME"), sorted by name: `sha256sum -c SHA256SUMS` checks it too."""
    return "".join(f"{sha256_hex(files[n])}  {n}\n" for n in sorted(files)).encode()


def parse_sha256sums(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m:
            raise RecordMismatchError(f"{SUMS} line {n} is malformed: {line[:80]!r}")
        out[m.group(2)] = m.group(1)
    return out


def build_record(
    files: Mapping[str, bytes],
    *,
    key: att.SigningKey,
    image: tuple[str, str] | None,
    predicate: Mapping[str, Any],
) -> dict[str, bytes]:
    """All record files including SHA256SUMS and the attestation. `image`: (subject name, sha256:digest)."""
    for name in files:
        if not _SAFE_NAME.match(name) or name in (SUMS, ATTESTATION):
            raise ValueError(f"bad record file name {name!r}")
    out = dict(files)
    out[SUMS] = sha256sums(files)
    subjects = {n: sha256_hex(b) for n, b in out.items()}
    if image is not None:
        subjects[image[0]] = image[1]
    pred = dict(predicate)
    pred["signer"] = {"keyid": key.keyid, "publicKey": key.public_pem(), "ephemeral": key.ephemeral}
    out[ATTESTATION] = att.envelope_line(att.statement(subjects, pred), key)
    return out


def sweep_stale(dest: Path) -> None:
    """Remove temp dirs of earlier runs for the same destination whose writer process is gone."""
    for p in dest.parent.glob(f".{dest.name}.*.tmp"):
        try:
            pid = int((p / _PIDFILE).read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            continue
        log.info("removing the leftover of an interrupted run: %s", p)
        shutil.rmtree(p, ignore_errors=True)


def mark_owner(tmp: Path) -> None:
    """Name this process as the writer of a temp dir, so `sweep_stale` leaves it alone while we live."""
    (tmp / _PIDFILE).write_text(str(os.getpid()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_destination(dest: Path | str) -> None:
    """A destination may be missing, an empty dir, or an earlier honed record (replaced); nothing else."""
    dest = Path(dest)
    if not dest.exists():
        return
    if not dest.is_dir():
        raise RecordDestinationError(f"record destination {dest} exists and is not a directory")
    entries = [e.name for e in dest.iterdir()]
    if entries and ATTESTATION not in entries:
        raise RecordDestinationError(
            f"record destination {dest} holds other files ({sorted(entries)[0]} …), not a honed record",
            hint="choose an empty or new --output directory",
        )


def write_record(dest: Path | str, record: Mapping[str, bytes]) -> Path:
    """Write `record` (from `build_record`) as directory `dest`, atomically; an earlier record is replaced."""
    dest = Path(dest)
    check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(dest)
    tmp = atomic_dir(dest)
    try:
        (tmp / _PIDFILE).write_text(str(os.getpid()))
        for name in sorted(record):
            with open(tmp / name, "wb") as f:
                f.write(record[name])
                f.flush()
                os.fsync(f.fileno())
        (tmp / _PIDFILE).unlink()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        commit_dir(tmp, dest, replace=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# ------------------------------------------------------------------------------------------------ verify


@dataclass(frozen=True, slots=True)
class RecordCheck:
    directory: str
    keyid: str
    trusted_key: bool  # verified with a key the caller gave, not the one inside the record
    ephemeral: bool  # the signer says its key was generated for this run
    files: int
    image: tuple[str, str] | None  # (subject name, sha256 hex) of the hardened image
    predicate: dict[str, Any]

    def describe(self) -> str:
        if self.trusted_key:
            who = f"signed by the given key {self.keyid}"
        elif self.ephemeral:
            who = (
                f"signed by an ephemeral key {self.keyid} kept in the record: this proves the record was not "
                "changed after signing, not who signed it (sign with --sign-key and verify with --key)"
            )
        else:
            who = f"signed by key {self.keyid} named in the record (pass --key PUB to check it is the one you trust)"
        img = f"; image {self.image[0]} sha256:{self.image[1]}" if self.image else ""
        return f"record {self.directory}: {self.files} files intact, {who}{img}"


def _walk(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(n if rel == "." else f"{rel}/{n}")
    return sorted(out)


def verify_record(directory: Path | str, *, public_key: Path | str | None = None) -> RecordCheck:
    """Check the signature, every checksum, and that no file was added or removed. Raises on the first
    mismatch (RecordMismatchError / attestation.SignatureError, both exit 3)."""
    d = Path(directory)
    if not d.is_dir():
        raise RecordMismatchError(f"{d} is not a directory")
    ap = d / ATTESTATION
    if not ap.is_file():
        raise RecordMismatchError(f"{ATTESTATION} is missing from {d}")
    pub = att.load_public_key(public_key) if public_key is not None else None
    envs = att.read_envelopes(ap.read_bytes())
    try:
        st, kid = att.open_envelope(envs[0], pub)
    except att.SignatureError as e:
        raise att.SignatureError(f"{ATTESTATION}: {e}") from None
    subjects = att.subjects_of(st)
    sp = d / SUMS
    if not sp.is_file():
        raise RecordMismatchError(f"{SUMS} is missing from {d}")
    sums_bytes = sp.read_bytes()
    if subjects.get(SUMS) != sha256_hex(sums_bytes):
        raise RecordMismatchError(f"{SUMS} was changed after signing (its digest differs from the attested one)")
    sums = parse_sha256sums(sums_bytes)
    expected = set(sums) | {SUMS, ATTESTATION}
    present = set(_walk(d))
    for name in sorted(present ^ expected):
        if name in present:
            raise RecordMismatchError(f"{name} was added to the record (not in {SUMS})")
        raise RecordMismatchError(f"{name} is missing from the record")
    for name in sorted(sums):
        if subjects.get(name) != sums[name]:
            raise RecordMismatchError(f"{name}: {SUMS} entry differs from the attested digest")
        p = d / name
        if p.is_symlink() or not p.is_file():
            raise RecordMismatchError(f"{name} is not a regular file")
        if sha256_hex(p.read_bytes()) != sums[name]:
            raise RecordMismatchError(f"{name} was changed: its sha256 differs from {SUMS}")
    record_names = set(sums) | {SUMS}
    extra_subjects = sorted(set(subjects) - record_names)
    image = (extra_subjects[0], subjects[extra_subjects[0]]) if extra_subjects else None
    pred = st.get("predicate") or {}
    signer = pred.get("signer") or {}
    return RecordCheck(
        directory=str(d),
        keyid=kid,
        trusted_key=pub is not None,
        ephemeral=bool(signer.get("ephemeral")),
        files=len(present),
        image=image,
        predicate=pred,
    )
