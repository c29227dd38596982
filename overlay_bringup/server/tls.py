"""A small CA and the server certificate for Headscale's HTTPS (control plane + embedded DERP).

Made with ``cryptography``: ECDSA P-256 keys (0600, written atomically), a CA valid 10 years and
a server certificate valid 1 year with subjectAltNames for the FQDN and the server's IPs. Existing
files are reused while they still fit (same CA, same names, more than 30 days left) unless a
rotation is asked for. Clients trust the CA certificate (the enrolment bundles carry it).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from overlay_monitor.errors import InputError
from overlay_monitor.files import write_atomic, write_secret

CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class CertResult:
    path: Path
    key_path: Path
    fingerprint: str      # SHA-256 of the DER certificate, colon-separated hex
    reused: bool


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    write_secret(path, key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    return key


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as err:
        raise InputError(f"{cert_path} or {key_path} is not a PEM certificate/key "
                         f"(move them away or use --rotate): {err.__class__.__name__}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(f"{key_path}: expected an EC private key")
    return cert, key


def ensure_ca(directory: Path, name: str, rotate: bool = False) -> CertResult:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    existing = None if rotate else _load(cert_path, key_path)
    if existing is not None and existing[0].not_valid_after_utc > _now() + dt.timedelta(
            days=RENEW_BEFORE_DAYS):
        return CertResult(cert_path, key_path, fingerprint(existing[0]), reused=True)
    key = _write_key(key_path)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} overlay CA")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return CertResult(cert_path, key_path, fingerprint(cert), reused=False)


def _sans(fqdn: str, addresses: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(fqdn)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    return names


def _fits(cert: x509.Certificate, ca: x509.Certificate, fqdn: str,
          addresses: tuple[str, ...]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    wanted = {str(n.value) for n in _sans(fqdn, addresses)}
    have = {str(n.value) for n in san}
    return (have == wanted and cert.issuer == ca.subject
            and cert.not_valid_after_utc > _now() + dt.timedelta(days=RENEW_BEFORE_DAYS))


def ensure_server_cert(directory: Path, ca: CertResult, fqdn: str, addresses: tuple[str, ...],
                       rotate: bool = False, name: str = "server") -> CertResult:
    """``name``.crt and ``name``.key in ``directory``, for ``fqdn`` (and ``addresses``), signed
    by the CA; an existing one that still fits (names, issuer, not near expiry) is kept."""
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    loaded_ca = _load(ca.path, ca.key_path)
    if loaded_ca is None:
        raise InputError(f"{ca.path}: the CA is missing")
    ca_cert, ca_key = loaded_ca
    existing = None if rotate or not ca.reused else _load(cert_path, key_path)
    if existing is not None and _fits(existing[0], ca_cert, fqdn, addresses):
        return CertResult(cert_path, key_path, fingerprint(existing[0]), reused=True)
    key = _write_key(key_path)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_sans(fqdn, addresses)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return CertResult(cert_path, key_path, fingerprint(cert), reused=False)
