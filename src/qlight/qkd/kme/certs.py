"""Test certificates for KMEs and SAEs (the ``cryptography`` library): a CA, server/client
certificates for the KMEs (valid for ``localhost`` and ``127.0.0.1``), client certificates
for the SAEs whose subject CN is the SAE's name.

Keys are ECDSA P-256 (fast TLS handshakes); certificates are valid for ``days`` days. These
are for trying qlight out and for tests: a deployment uses its own PKI.
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

from qlight.errors import ParameterError

__all__ = ["Issued", "issue", "make_ca", "write_pair", "write_test_pki"]


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qlight"),
         x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(cn: str = "qlight test CA", days: int = 365) -> Issued:
    """A self-signed CA certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(ca: Issued, cn: str, *, server: bool = False, days: int = 365) -> Issued:
    """A certificate for ``cn`` signed by ``ca``: client authentication, and with
    ``server=True`` also server authentication for ``localhost`` and ``127.0.0.1``."""
    if not cn or "/" in cn:
        raise ParameterError("cn", cn, "must be a non-empty name without '/'")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return Issued(b.sign(ca.key, hashes.SHA256()), key)


def write_pair(item: Issued, folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.pem`` and ``NAME.key`` (mode 0600) into ``folder``."""
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(item.cert_pem())
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_bytes(item.key_pem())
    return cert_path, key_path


def write_test_pki(
    folder: Path, kmes: tuple[str, ...] = ("kme-a", "kme-b"),
    saes: tuple[str, ...] = ("sae-a", "sae-b", "sae-c"),
) -> dict[str, Path]:  # fmt: skip
    """Write ``ca.pem`` (+ ``ca.key``), ``KME.pem/.key`` and ``SAE.pem/.key`` into ``folder``.

    Returns the paths by name (``"ca"``, ``"ca.key"``, ``"kme-a"``, ``"kme-a.key"``, ...).
    """
    if not folder.is_dir():
        raise ParameterError("folder", str(folder), "must be an existing folder")
    ca = make_ca()
    paths: dict[str, Path] = {}
    paths["ca"], paths["ca.key"] = write_pair(ca, folder, "ca")
    for name in kmes:
        paths[name], paths[f"{name}.key"] = write_pair(issue(ca, name, server=True), folder, name)
    for name in saes:
        paths[name], paths[f"{name}.key"] = write_pair(issue(ca, name), folder, name)
    return paths
