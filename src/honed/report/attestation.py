"""in-toto Statement v1 in a DSSE envelope, signed with ed25519.

The Statement's subjects are the record's files (by sha256) and the hardened image (by manifest digest); the
predicate (type `PREDICATE_TYPE`) names the tool, database and image digests. The envelope follows the DSSE
spec: the signature covers PAE(payloadType, payload), never the JSON around it, so re-serialising the
envelope cannot change what was signed. ed25519 signatures are deterministic: the same key and statement
give the same bytes.

`attestation.intoto.jsonl` holds one envelope per line (the in-toto bundle convention).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from honed.errors import UserError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://honed.dev/hardening-record/v1"


class SigningKeyError(UserError):
    """A signing or verification key that cannot be read."""


class SignatureError(UserError):
    """An envelope whose signature does not verify, or that cannot be parsed."""


# ------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True, slots=True)
class SigningKey:
    private: Ed25519PrivateKey
    ephemeral: bool = False  # generated for this run: proves integrity, not who signed

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def keyid(self) -> str:
        return keyid(self.public)

    def public_pem(self) -> str:
        return public_pem(self.public)


def public_raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(pub: Ed25519PublicKey) -> str:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def keyid(pub: Ed25519PublicKey) -> str:
    """sha256 of the raw public key: stable, and independent of the PEM wrapping."""
    return "sha256:" + hashlib.sha256(public_raw(pub)).hexdigest()


def generate_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate(), ephemeral=True)


def _raw_or_text(data: bytes) -> bytes | None:
    """32 raw bytes, or their hex/base64 text form."""
    if len(data) == 32:
        return data
    text = data.strip()
    for decode in (binascii.unhexlify, base64.b64decode):
        try:
            raw = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw
    return None


def load_private_key(path: Path | str) -> SigningKey:
    """An ed25519 private key: PEM (PKCS#8 or OpenSSH) or 32 raw bytes (or their hex/base64 text)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"cannot read signing key {path}: {e.strerror}") from None
    key: object
    try:
        if b"-----BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            raw = _raw_or_text(data)
            if raw is None:
                raise ValueError("not PEM and not 32 raw bytes")
            key = Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(
            f"signing key {path} is not a readable ed25519 private key: {e}",
            hint="create one with: openssl genpkey -algorithm ed25519 -out honed.key",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key {path} is a {type(key).__name__}, not an ed25519 key")
    return SigningKey(key)


def load_public_key(path_or_pem: Path | str | bytes) -> Ed25519PublicKey:
    """An ed25519 public key: PEM, OpenSSH, 32 raw bytes (or hex/base64). A private key file also works."""
    if isinstance(path_or_pem, bytes):
        data, where = path_or_pem, "public key"
    else:
        p = Path(path_or_pem)
        try:
            data, where = p.read_bytes(), str(p)
        except OSError as e:
            raise SigningKeyError(f"cannot read public key {p}: {e.strerror}") from None
    key: object
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()  # type: ignore[union-attr]
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        elif data.startswith(b"ssh-ed25519 "):
            key = serialization.load_ssh_public_key(data)
        else:
            raw = _raw_or_text(data)
            if raw is None:
                raise ValueError("not PEM and not 32 raw bytes")
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, AttributeError) as e:
        raise SigningKeyError(f"{where} is not a readable ed25519 public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where} is a {type(key).__name__}, not an ed25519 key")
    return key


# ------------------------------------------------------------------------------------------- statement


def statement(subjects: Mapping[str, str], predicate: Mapping[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1. `subjects`: name -> sha256 hex (or `sha256:hex`)."""
    subj = []
    for name in sorted(subjects):
        d = subjects[name]
        algo, _, hexd = d.partition(":") if ":" in d else ("sha256", "", d)
        subj.append({"name": name, "digest": {algo: hexd}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subj,
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }


def check_statement(st: Any) -> None:
    """The shape the in-toto v1 spec requires (no JSON schema exists upstream; checked in code)."""
    if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
        raise SignatureError(f"payload is not an in-toto Statement v1 (_type {st.get('_type') if isinstance(st, dict) else None!r})")
    subj = st.get("subject")
    if not isinstance(subj, list) or not subj:
        raise SignatureError("statement has no subjects")
    for s in subj:
        if not (isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"]):
            raise SignatureError(f"statement subject without a digest: {s!r}")
        for algo, val in s["digest"].items():
            if not (isinstance(val, str) and val and all(c in "0123456789abcdef" for c in val)):
                raise SignatureError(f"subject {s.get('name')!r}: digest {algo} is not lowercase hex")
    if not isinstance(st.get("predicateType"), str) or not st["predicateType"]:
        raise SignatureError("statement has no predicateType")


# ------------------------------------------------------------------------------------------------ DSSE


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_envelope(st: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    payload = canonical(st)
    sig = key.private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(sig).decode()}],
    }


def envelope_line(st: Mapping[str, Any], key: SigningKey) -> bytes:
    """One line of attestation.intoto.jsonl."""
    return canonical(sign_envelope(st, key)) + b"\n"


def read_envelopes(data: bytes) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            env = json.loads(line)
        except ValueError as e:
            raise SignatureError(f"attestation line {n} is not JSON: {e}") from None
        if not isinstance(env, dict):
            raise SignatureError(f"attestation line {n} is not a DSSE envelope")
        out.append(env)
    if not out:
        raise SignatureError("attestation holds no envelope")
    return out


def open_envelope(env: Mapping[str, Any], pub: Ed25519PublicKey | None = None) -> tuple[dict[str, Any], str]:
    """Verify an envelope and return (statement, keyid of the key that verified it).

    With `pub`, the signature must verify under that key. Without it, the key embedded in the statement's
    predicate (`signer.publicKey`) is used: that proves the record was not changed after signing, not who
    signed it; the caller must say so.
    """
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureError(f"unexpected payloadType {env.get('payloadType')!r}")
    try:
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = env["signatures"]
        st = json.loads(payload)
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise SignatureError(f"malformed DSSE envelope: {e}") from None
    check_statement(st)
    if pub is None:
        pem = (st.get("predicate") or {}).get("signer", {}).get("publicKey")
        if not pem:
            raise SignatureError("no key given and the record carries no public key", hint="pass --key PUB")
        pub = load_public_key(pem.encode())
    kid = keyid(pub)
    msg = pae(PAYLOAD_TYPE, payload)
    if not isinstance(sigs, list) or not sigs:
        raise SignatureError("envelope has no signatures")
    for s in sigs:
        try:
            sig = base64.b64decode(s["sig"], validate=True)
            pub.verify(sig, msg)
        except (KeyError, TypeError, ValueError, binascii.Error, InvalidSignature):
            continue
        return st, kid
    raise SignatureError(f"signature does not verify with key {kid}")


def subjects_of(st: Mapping[str, Any]) -> dict[str, str]:
    """name -> sha256 hex of a statement's subjects."""
    out = {}
    for s in st.get("subject", []):
        d = s.get("digest", {})
        if "sha256" in d:
            out[str(s.get("name"))] = d["sha256"]
    return out
