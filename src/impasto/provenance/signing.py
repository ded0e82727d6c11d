"""Signing a C2PA manifest into a file's bytes with c2pa-python.

One :class:`ManifestSigner` per set of credentials (made once per process by
:func:`default_signer`): it signs in memory (pictures) or from file to file (videos), offline
(no time-stamp server, no remote manifests, no thumbnails), and c2pa checks each manifest
right after signing it, so a file that would not verify is never written.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption, OutputError
from impasto.provenance.credentials import Credentials, load_credentials
from impasto.provenance.manifest import MIME_TYPES, manifest_definition

#: A valid 1 x 1 white PNG (what :meth:`ManifestSigner._probe` signs).
_ONE_PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8ffff3f0005fe02fe0def46b80000000049454e44ae426082")


def c2pa_module() -> Any:
    try:
        import c2pa
    except ImportError:
        raise InvalidOption("signed provenance needs c2pa-python: pip install c2pa-python "
                            "(or --no-provenance)") from None
    return c2pa


class ManifestSigner:
    """Signs C2PA manifests with one set of :class:`Credentials`."""

    def __init__(self, credentials: Credentials) -> None:
        c2pa = c2pa_module()
        self.credentials = credentials
        self._c2pa = c2pa
        # Checked after signing for integrity; whether the signer is trusted is the reader's
        # business (the local test authority is trusted nowhere).
        self._context = c2pa.Context.from_dict({
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {"verify_after_sign": True, "verify_trust": False,
                       "remote_manifest_fetch": False, "ocsp_fetch": False},
        })
        try:
            self._signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
                credentials.alg, credentials.chain, credentials.key, None))
        except Exception as exc:  # c2pa raises its own error types
            raise InvalidOption(f"cannot sign with this certificate and key: "
                                f"{_reason(exc)}") from None
        self._probe()

    def _probe(self) -> None:
        """Sign a 1-pixel picture now: a certificate C2PA refuses (a missing extension, a
        wrong key usage) fails here, before any work, not after a long render."""
        try:
            self.sign(_ONE_PIXEL_PNG, "image/png", {"software": "impasto", "method": "probe"},
                      "probe.png")
        except OutputError as exc:
            raise InvalidOption(f"C2PA cannot sign with this certificate: "
                                f"{str(exc).split(': ', 1)[-1]}") from None

    def sign(self, data: bytes, mime: str, record: dict[str, Any], title: str) -> bytes:
        """``data`` (a whole file of type ``mime``) with the manifest of ``record`` in it."""
        out = io.BytesIO()
        self._sign(io.BytesIO(data), out, mime, record, title)
        return out.getvalue()

    def for_record(self, record: dict[str, Any]) -> Callable[[bytes, Path], bytes]:
        """What :func:`impasto.image.save.save_image` calls to sign a file's bytes with
        ``record``'s manifest (its type and title from the target's name)."""

        def sign(data: bytes, target: Path) -> bytes:
            return self.sign(data, mime_type(target), record, target.name)

        return sign

    def sign_file(self, source: Path, target: Path, record: dict[str, Any],
                  title: str) -> None:
        """``source`` copied to ``target`` with the manifest of ``record`` in it."""
        mime = mime_type(target)
        with open(source, "rb") as src, open(target, "w+b") as dst:
            self._sign(src, dst, mime, record, title)

    def _sign(self, source: Any, target: Any, mime: str, record: dict[str, Any],
              title: str) -> None:
        definition = manifest_definition(record, title=title, mime=mime)
        try:
            with self._c2pa.Builder(definition, context=self._context) as builder:
                builder.sign(self._signer, mime, source, target)
        except Exception as exc:  # c2pa raises its own error types
            raise OutputError(f"cannot sign {title}: {_reason(exc)}") from None


def mime_type(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise InvalidOption(f"C2PA manifests go in {', '.join(sorted(MIME_TYPES))} files, not "
                            f"{suffix or 'a file without an extension'}")
    return MIME_TYPES[suffix]


def can_sign(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in MIME_TYPES


@functools.lru_cache(maxsize=8)
def _signer_for(cert: str | None, key: str | None, env: tuple[str | None, ...],
                config: str) -> ManifestSigner:
    del env, config  # part of the cache key only
    return ManifestSigner(load_credentials(cert, key))


def default_signer(cert: str | os.PathLike[str] | None = None,
                   key: str | os.PathLike[str] | None = None) -> ManifestSigner:
    """The signer for these files (None: the environment's, else the local test
    authority's), made once per process and set of settings."""
    from impasto.provenance.credentials import CERT_ENV, KEY_ENV, config_dir

    return _signer_for(None if cert is None else str(cert), None if key is None else str(key),
                       (os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)), str(config_dir()))


def resolve_signer(provenance: Any) -> ManifestSigner | None:
    """A front end's ``provenance`` setting as a signer: True, the default one; False or
    None, none; a :class:`ManifestSigner`, itself."""
    if provenance is True:
        return default_signer()
    return provenance or None


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
