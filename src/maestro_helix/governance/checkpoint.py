"""Signed checkpoints of the audit log, in the transparency-log "signed note" format.

A checkpoint says "the log named ORIGIN had SIZE entries and this tree head" and when; the log
signs it with an Ed25519 key. The text is the C2SP ``tlog-checkpoint`` body (origin line, decimal
size, base64 root hash, then extension lines — here one: ``time <RFC 3339 UTC>``), signed as a
C2SP ``signed-note``: a blank line, then ``— <key name> <base64(key id || signature)>``, where the
key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key) and the signature
covers the body including its final newline. Witnesses that read Go's ``sumdb/note`` or the
transparency-dev tools can check these files with the verifier key ``maestro keys export``
prints (``<name>+<hex key id>+<base64(0x01 || public key)>``).

Key files: ``maestro keys init`` writes ``audit-log.key`` (PKCS #8 PEM, mode 0600) and
``audit-log.vkey`` (the verifier key, which also carries the key name) into a keys folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `maestro --help` must not pay for cryptography
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from maestro_helix.core.errors import AuditLogError, ConfigError
from maestro_helix.governance.merkle import HASH_SIZE

__all__ = [
    "DEFAULT_ORIGIN",
    "PRIVATE_KEY_FILE",
    "VERIFIER_KEY_FILE",
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "SignedCheckpoint",
    "init_keys",
    "load_signer",
    "load_verifier",
    "parse_checkpoint",
]

DEFAULT_ORIGIN = "maestro-helix.local/audit"
PRIVATE_KEY_FILE = "audit-log.key"
VERIFIER_KEY_FILE = "audit-log.vkey"
_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash, space
_NAME = re.compile(r"^[^\s+]{1,255}$")  # no Unicode space, no '+' (signed-note key names)
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise AuditLogError(f"{what} is not standard base64: {text[:80]!r}") from None


def key_id(name: str, public_key: bytes) -> bytes:
    """The signed-note key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head at one moment: what is signed.

    Attributes:
        origin: the log's name (also the signing key's name).
        size: number of entries (leaves) covered.
        root: the RFC 6962 tree head of those entries (32 bytes).
        time: when it was made, RFC 3339 UTC (e.g. ``2026-12-01T09:00:00Z``).
    """

    origin: str
    size: int
    root: bytes
    time: str

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\ntime {self.time}\n"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with the signature of one key; ``note`` is the whole file's text."""

    checkpoint: Checkpoint
    key_name: str
    key_id: bytes
    signature: bytes

    @property
    def note(self) -> str:
        sig = _b64(self.key_id + self.signature)
        return f"{self.checkpoint.body()}\n{_SIG_PREFIX}{self.key_name} {sig}\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """The checkpoint in a note's text (the part before the blank line, with its newline)."""
    if not body.endswith("\n"):
        raise AuditLogError("a checkpoint's text ends with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise AuditLogError("a checkpoint has an origin line, a size line and a root hash line")
    origin, size, root_b64, *extensions = lines
    if not _NAME.match(origin):
        raise AuditLogError(f"checkpoint origin {origin[:80]!r} is empty or has spaces or '+'")
    if not _SIZE.match(size):
        raise AuditLogError(f"checkpoint size {size[:40]!r} is not a decimal number")
    root = _unb64(root_b64, "the checkpoint's root hash")
    if len(root) != HASH_SIZE:
        raise AuditLogError(f"the checkpoint's root hash has {len(root)} bytes, not {HASH_SIZE}")
    times = [e[5:] for e in extensions if e.startswith("time ")]
    if len(times) != 1:
        raise AuditLogError("a checkpoint of this log has exactly one 'time' line")
    return Checkpoint(origin, int(size), root, times[0])


class NoteSigner:
    """Signs checkpoints with an Ed25519 private key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _NAME.match(name):
            raise ConfigError("key name", "", f"{name!r} is empty or has spaces or '+'")
        self.name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes_raw()
        self.key_id = key_id(name, self.public_key)

    def sign(self, cp: Checkpoint) -> SignedCheckpoint:
        if cp.origin != self.name:
            raise AuditLogError(f"origin {cp.origin!r} is not this key's name {self.name!r}")
        return SignedCheckpoint(cp, self.name, self.key_id, self._key.sign(cp.body().encode()))

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.public_key)

    def vkey(self) -> str:
        return self.verifier().vkey()


class NoteVerifier:
    """Checks the signature of one key (name + public key) on checkpoint notes."""

    def __init__(self, name: str, public_key: bytes) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(_ALG_ED25519 + self.public_key)}"

    @classmethod
    def from_vkey(cls, text: str, source: str = "verifier key") -> NoteVerifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.match(parts[0]):
            raise ConfigError(source, "", "expected NAME+KEYID+BASE64 (a signed-note vkey)")
        try:
            raw = _unb64(parts[2], "the public key")
        except AuditLogError as e:
            raise ConfigError(source, "", str(e)) from None
        if len(raw) != 33 or raw[:1] != _ALG_ED25519:
            raise ConfigError(source, "", "not an Ed25519 verifier key (type 0x01, 32 bytes)")
        v = cls(parts[0], raw[1:])
        if v.key_id.hex() != parts[1].lower():
            raise ConfigError(source, "", f"key id {parts[1]} does not match the key")
        return v

    def open(self, note: str) -> SignedCheckpoint:
        """The checkpoint in ``note`` once this key's signature on it verifies.

        Raises:
            AuditLogError: malformed note, no signature by this key, or a signature that does not
                verify (a forgery, or a note signed by another key under the same name).
        """
        from cryptography.exceptions import InvalidSignature

        body, sig_lines = _split_note(note)
        mine = [(kid, sig) for name, kid, sig in sig_lines if name == self.name]
        if not mine:
            names = ", ".join(sorted({n for n, _, _ in sig_lines}))
            raise AuditLogError(f"not signed by {self.name!r} (signed by: {names})")
        if all(kid != self.key_id for kid, _ in mine):
            ids = ", ".join(kid.hex() for kid, _ in mine)
            raise AuditLogError(
                f"signed by key id {ids}, not by the trusted key {self.key_id.hex()} of "
                f"{self.name!r}: another key made this checkpoint"
            )
        for kid, sig in mine:
            if kid != self.key_id:
                continue
            try:
                self._key.verify(sig, body.encode())
            except InvalidSignature:
                raise AuditLogError(
                    f"the signature of {self.name!r} does not verify: the text was changed "
                    "or the signature forged"
                ) from None
            cp = parse_checkpoint(body)
            if cp.origin != self.name:
                raise AuditLogError(f"checkpoint of log {cp.origin!r}, not of {self.name!r}")
            return SignedCheckpoint(cp, self.name, kid, sig)
        raise AssertionError("unreachable")  # a matching key id was found above


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise AuditLogError("a signed note has no control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise AuditLogError("not a signed note: no blank line before the signature lines")
    body, sigs = note[: cut + 1], note[cut + 2 : -1].split("\n")
    out: list[tuple[str, bytes, bytes]] = []
    for line in sigs:
        if not line.startswith(_SIG_PREFIX):
            raise AuditLogError(f"signature line does not start with an em dash: {line[:80]!r}")
        name, _, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
        raw = _unb64(sig64, "a signature")
        if len(raw) < 5:
            raise AuditLogError("a signature line holds a key id and a signature")
        out.append((name, raw[:4], raw[4:]))
    return body, out


# -- key files ----------------------------------------------------------------------------------


def init_keys(keys_dir: Path, name: str = DEFAULT_ORIGIN) -> NoteSigner:
    """Create a new signing key in ``keys_dir``; refuse to overwrite one that exists."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_path = keys_dir / PRIVATE_KEY_FILE
    if key_path.exists():
        raise ConfigError(str(key_path), "", "a signing key exists already (not overwritten)")
    signer = NoteSigner(name, Ed25519PrivateKey.generate())
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = signer._key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    (keys_dir / VERIFIER_KEY_FILE).write_text(signer.vkey() + "\n", encoding="utf-8")
    return signer


def load_verifier(path: Path) -> NoteVerifier:
    """A verifier key file: a ``.vkey`` line, or a folder holding ``audit-log.vkey``."""
    file = path / VERIFIER_KEY_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(file), "", f"cannot read the public key: {e.strerror}") from None
    return NoteVerifier.from_vkey(text, str(file))


def load_signer(keys_dir: Path) -> NoteSigner:
    """The signing key in ``keys_dir`` (its name from the verifier key beside it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_path = keys_dir / PRIVATE_KEY_FILE
    try:
        mode = key_path.stat().st_mode
        pem = key_path.read_bytes()
    except OSError as e:
        raise ConfigError(
            str(key_path), "", f"cannot read the signing key ({e.strerror}); run maestro keys init"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            str(key_path), "", f"permissions {oct(mode & 0o777)} are too open (chmod 600)"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(key_path), "", f"not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(str(key_path), "", "not an Ed25519 private key")
    verifier = load_verifier(keys_dir / VERIFIER_KEY_FILE)
    signer = NoteSigner(verifier.name, key)
    if signer.public_key != verifier.public_key:
        raise ConfigError(str(keys_dir), "", "the private key does not match audit-log.vkey")
    return signer
