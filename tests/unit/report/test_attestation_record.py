"""DSSE signing of the record and `verify_record`: integrity, keys, and every kind of tampering."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from honed.report import attestation as att
from honed.report.record import (
    ATTESTATION,
    SUMS,
    RecordDestinationError,
    RecordMismatchError,
    build_record,
    verify_record,
    write_record,
)

FILES = {
    "summary.json": b'{"a": 1}\n',
    "report.html": b"<html></html>\n",
    "tests.junit.xml": b"<testsuites/>\n",
}
IMAGE = ("pkg:oci/app@sha256%3A" + "ab" * 32, "sha256:" + "ab" * 32)


@pytest.fixture()
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    k = Ed25519PrivateKey.generate()
    priv = tmp_path / "k.pem"
    pub = tmp_path / "k.pub"
    priv.write_bytes(
        k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pub.write_bytes(
        k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


def _record(tmp_path: Path, key: att.SigningKey) -> Path:
    rec = build_record(FILES, key=key, image=IMAGE, predicate={"tool": {"name": "honed"}})
    return write_record(tmp_path / "rec", rec)


def test_pae_matches_spec_example() -> None:
    # The DSSE spec's worked example.
    assert att.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_signed_record_verifies_with_trusted_key(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    priv, pub = key_files
    d = _record(tmp_path, att.load_private_key(priv))
    assert sorted(p.name for p in d.iterdir()) == sorted([*FILES, SUMS, ATTESTATION])
    assert subprocess.run(["sha256sum", "-c", "--quiet", SUMS], cwd=d).returncode == 0
    chk = verify_record(d, public_key=pub)
    assert chk.trusted_key and not chk.ephemeral and chk.image == (IMAGE[0], "ab" * 32)
    env = json.loads((d / ATTESTATION).read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == att.PREDICATE_TYPE
    assert {s["name"] for s in st["subject"]} == {*FILES, SUMS, IMAGE[0]}


def test_same_key_same_bytes(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    key = att.load_private_key(key_files[0])
    a = build_record(FILES, key=key, image=IMAGE, predicate={})
    b = build_record(dict(reversed(list(FILES.items()))), key=key, image=IMAGE, predicate={})
    assert a == b


def test_ephemeral_key_is_visible(tmp_path: Path) -> None:
    d = _record(tmp_path, att.generate_key())
    chk = verify_record(d)
    assert chk.ephemeral and not chk.trusted_key
    assert "ephemeral" in chk.describe() and "not who signed it" in chk.describe()


def test_raw_key_forms(tmp_path: Path) -> None:
    k = Ed25519PrivateKey.generate()
    raw = k.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    (tmp_path / "raw").write_bytes(raw)
    (tmp_path / "hex").write_text(raw.hex() + "\n")
    assert att.load_private_key(tmp_path / "raw").keyid == att.load_private_key(tmp_path / "hex").keyid
    (tmp_path / "bad").write_text("not a key")
    with pytest.raises(att.SigningKeyError):
        att.load_private_key(tmp_path / "bad")


def test_tamper_changed_file(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    d = _record(tmp_path, att.load_private_key(key_files[0]))
    (d / "summary.json").write_bytes(b'{"a": 2}\n')
    with pytest.raises(RecordMismatchError, match=r"summary\.json was changed"):
        verify_record(d, public_key=key_files[1])


def test_tamper_changed_file_and_sums(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    d = _record(tmp_path, att.generate_key())
    (d / "summary.json").write_bytes(b'{"a": 2}\n')
    subprocess.run(f"sha256sum {' '.join(sorted(FILES))} > {SUMS}", shell=True, cwd=d, check=True)
    with pytest.raises(RecordMismatchError, match="SHA256SUMS was changed after signing"):
        verify_record(d)


def test_tamper_added_and_removed_file(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    d = _record(tmp_path, att.load_private_key(key_files[0]))
    (d / "extra.txt").write_text("x")
    with pytest.raises(RecordMismatchError, match=r"extra\.txt was added"):
        verify_record(d, public_key=key_files[1])
    (d / "extra.txt").unlink()
    (d / "report.html").unlink()
    with pytest.raises(RecordMismatchError, match=r"report\.html is missing"):
        verify_record(d, public_key=key_files[1])


def test_tamper_signature_and_wrong_key(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    d = _record(tmp_path, att.load_private_key(key_files[0]))
    env = json.loads((d / ATTESTATION).read_text())
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    (d / ATTESTATION).write_text(json.dumps(env) + "\n")
    with pytest.raises(att.SignatureError, match="does not verify"):
        verify_record(d, public_key=key_files[1])
    # A re-signed record (attacker's own key) passes only its own embedded key, never the trusted one.
    d2 = tmp_path / "other"
    shutil.copytree(_record(tmp_path / "b", att.generate_key()), d2)
    with pytest.raises(att.SignatureError):
        verify_record(d2, public_key=key_files[1])


def test_tamper_payload_swapped(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    d = _record(tmp_path, att.load_private_key(key_files[0]))
    env = json.loads((d / ATTESTATION).read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    st["subject"] = [s for s in st["subject"] if s["name"] != "report.html"]
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (d / ATTESTATION).write_text(json.dumps(env) + "\n")
    with pytest.raises(att.SignatureError):
        verify_record(d, public_key=key_files[1])


def test_rewrite_replaces_record_but_refuses_foreign_dir(tmp_path: Path) -> None:
    key = att.generate_key()
    d = _record(tmp_path, key)
    rec = build_record({"summary.json": b"{}\n"}, key=key, image=None, predicate={})
    write_record(d, rec)
    assert sorted(p.name for p in d.iterdir()) == sorted([ATTESTATION, SUMS, "summary.json"])
    verify_record(d)
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RecordDestinationError):
        write_record(foreign, rec)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_killed_writer_leaves_nothing_complete(tmp_path: Path) -> None:
    # A writer killed after some files: the temp dir is dot-prefixed, the destination does not exist, and
    # the next write sweeps it.
    stale = tmp_path / ".rec.abc123.tmp"
    stale.mkdir()
    (stale / "summary.json").write_text("{}")
    (stale / ".honed-writer.pid").write_text("999999999")
    assert not (tmp_path / "rec").exists()
    _record(tmp_path, att.generate_key())
    assert not stale.exists()
    verify_record(tmp_path / "rec")


def test_openssh_key_and_wrong_algorithm(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = Ed25519PrivateKey.generate()
    (tmp_path / "id_ed25519").write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.OpenSSH,
                                                          serialization.NoEncryption()))
    (tmp_path / "id_ed25519.pub").write_bytes(k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                          serialization.PublicFormat.OpenSSH))
    sk = att.load_private_key(tmp_path / "id_ed25519")
    assert sk.keyid == att.keyid(att.load_public_key(tmp_path / "id_ed25519.pub"))
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(r.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    with pytest.raises(att.SigningKeyError, match="not an ed25519 key"):
        att.load_private_key(tmp_path / "rsa.pem")
