"""Throwaway certificates for fakes that serve https: a certificate authority made for one test
and a server certificate it signs for the names given (or a self-signed one nobody trusts).

    authority = CertificateAuthority(folder)
    context = authority.server_context(["api.example.test"])   # FakeLLMServer(..., tls=context)
    # SSL_CERT_FILE=authority.ca_file makes a client trust it
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from typing import List

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alternative_names(hostnames: List[str]) -> x509.SubjectAlternativeName:
    names = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CertificateAuthority:
    """A certificate authority whose certificate is written to `ca_file` in `folder`."""

    def __init__(self, folder: str, name: str = "Taleweaver test CA"):
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._name = _name(name)
        self.certificate = (
            x509.CertificateBuilder().subject_name(self._name).issuer_name(self._name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = _write(os.path.join(folder, "ca.pem"), self.certificate.public_bytes(serialization.Encoding.PEM))

    def server_context(self, hostnames: List[str]) -> ssl.SSLContext:
        """A server-side TLS context with a certificate this authority signed for the names."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder().subject_name(_name(hostnames[0])).issuer_name(self._name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(_alternative_names(hostnames), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return _context(self.folder, hostnames[0], certificate, key)


def self_signed_context(folder: str, hostname: str = "localhost") -> ssl.SSLContext:
    """A server-side TLS context with a self-signed certificate nobody trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(hostname)).issuer_name(_name(hostname))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    return _context(folder, hostname, certificate, key)


def _context(folder: str, stem: str, certificate: x509.Certificate, key) -> ssl.SSLContext:
    cert_path = _write(os.path.join(folder, f"{stem}.crt.pem"), certificate.public_bytes(serialization.Encoding.PEM))
    key_path = _write(os.path.join(folder, f"{stem}.key.pem"), _pem_key(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
