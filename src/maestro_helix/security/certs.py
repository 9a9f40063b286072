"""A small private CA for mutual TLS between Maestro and Helix services, rotated weekly.

A certificate directory holds::

    ca.crt, ca.key        the CA (EC P-256, 10 years by default); keep ca.key out of reach
    NAME.crt, NAME.key    leaves signed by the CA (EC P-256, 7 days by default)

Keys are written ``0600`` and certificates ``0644``, each file through a temporary file and
``os.replace``, so a reader sees the old file or the new one, never half of one. A leaf's kind,
hosts and lifetime are read back from its certificate (extended key usage, subject alternative
names, validity), so the directory holds no other state that could drift from the certificates.

EC P-256 rather than Ed25519: every TLS stack a client may use (OpenSSL, BoringSSL, Go, Java,
browsers) accepts P-256 certificates; Ed25519 certificates are not universally supported.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from maestro_helix.core.errors import MaestroError

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "DEFAULT_CA_DAYS",
    "DEFAULT_LEAF_DAYS",
    "CertError",
    "CertInfo",
    "CertKind",
    "init_ca",
    "inspect",
    "issue",
    "read_pair",
    "rotate",
]

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
DEFAULT_CA_DAYS = 3650
DEFAULT_LEAF_DAYS = 7  # the runbook rotates weekly
# certificates start a little in the past, so a peer whose clock is slightly behind accepts them
_BACKDATE = timedelta(minutes=5)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_DNS = re.compile(r"(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


class CertError(MaestroError):
    """A certificate directory or file is missing, malformed or inconsistent.

    Attributes:
        path: the file or directory concerned.
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CertKind(enum.StrEnum):
    """What a certificate is for: signing the others, a TLS server, or a TLS client."""

    CA = "ca"
    SERVER = "server"
    CLIENT = "client"


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What one certificate of a directory says about itself.

    Attributes:
        name: file stem (``ca`` for the CA; the client's common name for client leaves).
        kind: CA, server (EKU serverAuth) or client (EKU clientAuth).
        serial: the certificate's serial number (changes with every issue and rotation).
        not_before: start of validity (UTC).
        not_after: end of validity (UTC).
        days_left: whole days from now to ``not_after`` (negative once expired).
        hosts: DNS names and IP addresses of a server certificate (empty otherwise).
        fingerprint: SHA-256 of the DER certificate, hex.
        cert_path: the certificate file.
        key_path: its private key file.
    """

    name: str
    kind: CertKind
    serial: int
    not_before: datetime
    not_after: datetime
    days_left: int
    hosts: tuple[str, ...]
    fingerprint: str
    cert_path: Path
    key_path: Path

    @property
    def lifetime_days(self) -> int:
        return round((self.not_after - self.not_before - _BACKDATE).total_seconds() / 86400)


# -- files ---------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a temporary file beside ``path`` with ``mode``, then rename it over."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp gives 0600; certificates are readable by all
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # a service reads it unattended; the file is 0600
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _paths(cert_dir: Path, name: str) -> tuple[Path, Path]:
    return cert_dir / f"{name}.crt", cert_dir / f"{name}.key"


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise CertError(path, "no such certificate") from None
    except ValueError as e:
        raise CertError(path, f"not a PEM certificate ({e})") from None


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise CertError(path, "no such key") from None
    except (ValueError, TypeError) as e:
        raise CertError(path, f"not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(path, f"expected an EC key, found {type(key).__name__}")
    return key


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    public = cert.public_key()
    return isinstance(public, ec.EllipticCurvePublicKey) and _spki(public) == _spki(
        key.public_key()
    )


def read_pair(cert_dir: str | Path, name: str, *, attempts: int = 3) -> tuple[bytes, bytes]:
    """The PEM certificate and key of ``name``, read as a matching pair.

    A rotation replaces the two files one after the other; a reader in between would see a new
    key with the old certificate. This reads again (up to ``attempts`` times) until both match.

    Raises:
        CertError: files missing or malformed, or still mismatched after every attempt.
    """
    cert_path, key_path = _paths(Path(cert_dir), name)
    for _ in range(attempts):
        cert_pem, key_pem = _read(cert_path), _read(key_path)
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as e:
            raise CertError(cert_path, f"not a PEM certificate ({e})") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as e:
            raise CertError(key_path, f"not an unencrypted PEM private key ({e})") from None
        if isinstance(key, ec.EllipticCurvePrivateKey) and _matches(cert, key):
            return cert_pem, key_pem
    raise CertError(key_path, f"the key does not match {cert_path.name}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertError(path, "no such file") from None


# -- building ------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or name.lower() == "ca":
        raise CertError(
            name,
            "a certificate name is 1-63 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, and not 'ca'",
        )


def _check_days(days: int) -> None:
    if days < 1:
        raise CertError("days", f"validity must be at least 1 day, not {days}")


def _san(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        h = host.strip()
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
            continue
        except ValueError:
            pass
        if not _DNS.fullmatch(h):
            raise CertError(h or "hosts", f"not a DNS name or IP address: {host!r}")
        names.append(x509.DNSName(h.lower().rstrip(".")))
    return names


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _load_ca(cert_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if not (cert_dir / CA_CERT).exists():
        raise CertError(cert_dir, "no CA here: create one first (maestro certs init)")
    cert, key = _load_cert(cert_dir / CA_CERT), _load_key(cert_dir / CA_KEY)
    if not _matches(cert, key):
        raise CertError(cert_dir / CA_KEY, f"the key does not match {CA_CERT}")
    return cert, key


def init_ca(
    cert_dir: str | Path,
    *,
    days: int = DEFAULT_CA_DAYS,
    common_name: str = "Maestro Helix CA",
    now: datetime | None = None,
) -> CertInfo:
    """Create a CA (EC P-256 key and self-signed certificate) in ``cert_dir``.

    Args:
        cert_dir: created (mode 0700) if missing.
        days: CA validity.
        common_name: the CA's subject CN.
        now: issue time (tests pass a fixed one).

    Raises:
        CertError: a CA already exists there (replacing it would orphan every leaf it signed).
    """
    d = Path(cert_dir)
    _check_days(days)
    if (d / CA_CERT).exists() or (d / CA_KEY).exists():
        raise CertError(d, "a CA already exists here; remove it first to start over")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    t = _now(now)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(t - _BACKDATE)
        .not_valid_after(t + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(d / CA_KEY, _key_pem(key), 0o600)
    _write_atomic(d / CA_CERT, _cert_pem(cert), 0o644)
    return _info(d, "ca", cert, t)


def issue(
    cert_dir: str | Path,
    name: str,
    *,
    kind: CertKind | str,
    hosts: Sequence[str] = (),
    days: int = DEFAULT_LEAF_DAYS,
    now: datetime | None = None,
) -> CertInfo:
    """Issue (or re-issue) the leaf ``name`` with a new key, signed by the directory's CA.

    Server certificates carry the hosts as subject alternative names (DNS names and IP
    addresses) and EKU serverAuth; client certificates carry ``CN=name`` and EKU clientAuth.

    Args:
        cert_dir: a directory with a CA (see :func:`init_ca`).
        name: file stem and common name.
        kind: ``"server"`` or ``"client"``.
        hosts: what clients connect to (server certificates only; at least one).
        days: validity; capped at the CA's own expiry.
        now: issue time (tests pass a fixed one).

    Raises:
        CertError: bad name, kind or hosts; no CA in ``cert_dir``.
    """
    d = Path(cert_dir)
    _check_name(name)
    _check_days(days)
    try:
        k = CertKind(kind)
    except ValueError:
        raise CertError(name, f"kind must be 'server' or 'client', not {kind!r}") from None
    if k is CertKind.CA:
        raise CertError(name, "use init_ca for the CA")
    if k is CertKind.SERVER and not hosts:
        raise CertError(name, "a server certificate needs at least one host (DNS name or IP)")
    if k is CertKind.CLIENT and hosts:
        raise CertError(name, "hosts apply to server certificates only")
    ca_cert, ca_key = _load_ca(d)
    t = _now(now)
    not_after = min(t + timedelta(days=days), ca_cert.not_valid_after_utc)
    key = _new_key()
    eku = (
        ExtendedKeyUsageOID.SERVER_AUTH if k is CertKind.SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(t - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = _paths(d, name)
    # key first, certificate last: readers key off the certificate (see read_pair)
    _write_atomic(key_path, _key_pem(key), 0o600)
    _write_atomic(cert_path, _cert_pem(cert), 0o644)
    return _info(d, name, cert, t)


def rotate(cert_dir: str | Path, *, now: datetime | None = None) -> list[CertInfo]:
    """Re-issue every leaf of ``cert_dir`` with a new key: same name, kind, hosts and lifetime.

    The CA is kept. Certificates issued before stay valid until they expire (there is no
    revocation list): short lifetimes are what bound an old key's use.

    Returns:
        The new certificates, by name.

    Raises:
        CertError: no CA, or a leaf that cannot be read.
    """
    d = Path(cert_dir)
    _load_ca(d)
    old = [c for c in inspect(d, now=now) if c.kind is not CertKind.CA]
    return [
        issue(d, c.name, kind=c.kind, hosts=c.hosts, days=max(1, c.lifetime_days), now=now)
        for c in old
    ]


def inspect(cert_dir: str | Path, *, now: datetime | None = None) -> list[CertInfo]:
    """Every certificate of ``cert_dir``: the CA first, then the leaves by name.

    Raises:
        CertError: the directory does not exist, or a certificate is malformed.
    """
    d = Path(cert_dir)
    if not d.is_dir():
        raise CertError(d, "no such directory")
    t = _now(now)
    found: list[CertInfo] = []
    for path in sorted(d.glob("*.crt")):
        name = path.stem
        if name.startswith("."):
            continue  # a temporary file of a write in progress
        found.append(_info(d, name, _load_cert(path), t))
    found.sort(key=lambda c: (c.kind is not CertKind.CA, c.name))
    return found


def _kind(name: str, cert: x509.Certificate) -> CertKind:
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return CertKind.CA
    except x509.ExtensionNotFound:
        pass
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise CertError(name, "certificate has no extended key usage") from None
    if ExtendedKeyUsageOID.SERVER_AUTH in usages:
        return CertKind.SERVER
    if ExtendedKeyUsageOID.CLIENT_AUTH in usages:
        return CertKind.CLIENT
    raise CertError(name, "certificate is neither for TLS servers nor for TLS clients")


def _hosts(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return (*dns, *ips)


def _info(cert_dir: Path, name: str, cert: x509.Certificate, now: datetime) -> CertInfo:
    cert_path, key_path = _paths(cert_dir, name)
    not_after = cert.not_valid_after_utc
    return CertInfo(
        name=name,
        kind=_kind(name, cert),
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_left=(not_after - now).days,
        hosts=_hosts(cert),
        fingerprint=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        cert_path=cert_path,
        key_path=key_path,
    )
