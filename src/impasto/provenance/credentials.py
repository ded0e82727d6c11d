"""Who signs: the certificate chain and private key that sign C2PA manifests.

In order: the files given (``--sign-cert`` / ``--sign-key``), else the files named by
``$IMPASTO_SIGN_CERT`` / ``$IMPASTO_SIGN_KEY``, else a local test certificate authority and
signing certificate that impasto makes on first use in the user's configuration folder
(``$IMPASTO_CONFIG``, else ``$XDG_CONFIG_HOME/impasto``, else ``~/.config/impasto``), offline:
no certificate authority is asked and no time-stamp server. Manifests signed with the local
certificate verify as *valid but untrusted* anywhere its ``ca.pem`` is not a trust anchor.

Everything is checked when loaded (both files readable PEM, the key the certificate's, an
algorithm C2PA signs with), so a bad certificate fails before any work is done.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption

CERT_ENV = "IMPASTO_SIGN_CERT"
KEY_ENV = "IMPASTO_SIGN_KEY"
CONFIG_ENV = "IMPASTO_CONFIG"
#: Files of the local test authority, in ``<config>/c2pa/``.
LOCAL_FILES = {"ca": "ca.pem", "ca_key": "ca.key", "cert": "signer.pem", "key": "signer.key"}
#: Years the local certificates are valid.
LOCAL_YEARS = 10


@dataclass(frozen=True)
class Credentials:
    """A signing certificate chain (PEM: the signer's certificate first, then the authorities
    that issued it), its private key (PEM) and the C2PA algorithm the key signs with."""

    chain: bytes
    key: bytes
    alg: str
    #: Where they came from: "given", "environment" or "local test CA".
    origin: str
    #: The local test authority's certificate (PEM) when ``origin`` is "local test CA".
    local_ca: bytes | None = None
    #: Whether the local test authority was made just now (its first use).
    created: bool = False

    @property
    def local(self) -> bool:
        return self.local_ca is not None

    def fingerprint(self) -> str:
        """SHA-256 of the chain: one signer, one fingerprint."""
        return hashlib.sha256(self.chain).hexdigest()


def config_dir() -> Path:
    """The user's impasto configuration folder (not created here)."""
    value = os.environ.get(CONFIG_ENV)
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "impasto"


def load_credentials(cert: str | os.PathLike[str] | None = None,
                     key: str | os.PathLike[str] | None = None) -> Credentials:
    """The credentials to sign with (see the module's docstring for the order), checked."""
    if cert is not None or key is not None:
        return _from_files(cert, key, "given", "--sign-cert", "--sign-key")
    env_cert, env_key = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if env_cert or env_key:
        return _from_files(env_cert, env_key, "environment", f"${CERT_ENV}", f"${KEY_ENV}")
    return local_credentials()


def local_credentials(folder: Path | None = None) -> Credentials:
    """The local test authority's signing credentials, made on first use."""
    folder = folder or config_dir() / "c2pa"
    paths = {k: folder / v for k, v in LOCAL_FILES.items()}
    created = not folder.exists()
    if created:
        _make_local_authority(folder)
    if not all(p.is_file() for p in paths.values()):
        missing = ", ".join(p.name for p in paths.values() if not p.is_file())
        raise InvalidOption(f"the local signing certificate in {folder} lacks {missing}: "
                            "remove the folder and impasto makes a new one")
    found = _from_files(paths["cert"], paths["key"], "local test CA", "the local certificate",
                        "the local key")
    return Credentials(found.chain, found.key, found.alg, found.origin,
                       local_ca=paths["ca"].read_bytes(), created=created)


def _read(path: str | os.PathLike[str] | None, label: str, other: str) -> bytes:
    if path is None or str(path) == "":
        raise InvalidOption(f"{label} is needed with {other} (a PEM file)")
    file = Path(path).expanduser()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InvalidOption(f"cannot read {label} {file}: {exc.strerror or exc}") from None


def _from_files(cert: Any, key: Any, origin: str, cert_label: str,
                key_label: str) -> Credentials:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain = _read(cert, cert_label, key_label)
    key_pem = _read(key, key_label, cert_label)
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise InvalidOption(f"{cert_label} {cert} is not a PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        why = "it is encrypted" if isinstance(exc, TypeError) else "not a PEM private key"
        raise InvalidOption(f"{key_label} {key} cannot be used: {why}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if certs[0].public_key().public_bytes(encoding, public) != \
            private.public_key().public_bytes(encoding, public):
        raise InvalidOption(f"{key_label} {key} is not the key of {cert_label} {cert}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not certs[0].not_valid_before_utc <= now <= certs[0].not_valid_after_utc:
        raise InvalidOption(f"{cert_label} {cert} is not valid now (valid from "
                            f"{certs[0].not_valid_before_utc:%Y-%m-%d} to "
                            f"{certs[0].not_valid_after_utc:%Y-%m-%d})")
    return Credentials(chain, key_pem, _algorithm(private, key_label, key), origin)


def _algorithm(private: Any, label: str, path: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if private.curve.name in by_curve:
            return by_curve[private.curve.name]
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    elif isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    raise InvalidOption(f"{label} {path}: C2PA signs with ECDSA P-256/384/521, Ed25519 or "
                        "RSA keys")


def _make_local_authority(folder: Path) -> None:
    """A test certificate authority and a signing certificate it issued (ECDSA P-256, with
    the extensions C2PA validators ask of a signer), written with the keys readable by the
    user alone, into a temporary folder renamed to ``folder`` (two processes starting at once
    end up with the same authority: the second rename fails and its files are dropped)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                             "impasto (local test, untrusted)")])

    def usage(*, sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=not sign, content_commitment=False,
                             key_encipherment=False, data_encipherment=False,
                             key_agreement=False, key_cert_sign=sign, crl_sign=sign,
                             encipher_only=False, decipher_only=False)

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(
        days=365 * LOCAL_YEARS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("impasto local test CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("impasto local signer"))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM

    def secret(k: Any) -> bytes:
        return k.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    part = folder.with_name(f".{folder.name}.{os.getpid()}.part")
    try:
        part.mkdir(parents=True, exist_ok=True)
        files = {"ca": (ca.public_bytes(pem), 0o644), "ca_key": (secret(ca_key), 0o600),
                 "cert": (cert.public_bytes(pem) + ca.public_bytes(pem), 0o644),
                 "key": (secret(key), 0o600)}
        for kind, (data, mode) in files.items():
            fd = os.open(part / LOCAL_FILES[kind], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            os.rename(part, folder)
        except OSError:
            if not folder.is_dir():
                raise
            shutil.rmtree(part, ignore_errors=True)  # another process made it first
    except OSError as exc:
        shutil.rmtree(part, ignore_errors=True)
        raise InvalidOption(f"cannot make the local signing certificate in {folder}: "
                            f"{exc.strerror or exc} (give --sign-cert and --sign-key, or "
                            "--no-provenance)") from None
