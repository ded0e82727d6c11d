"""Reading a file's provenance back: the C2PA manifest, its validation state, and the plain
record, compared.

States: ``trusted`` (valid, signed by a certificate that chains to a trust anchor given),
``untrusted`` (valid, but the signer is not trusted here: the local test authority anywhere
its ``ca.pem`` is not an anchor), ``tampered`` (the file changed after signing, or the
manifest does not verify), ``none`` (no manifest).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impasto.errors import InvalidImage, InvalidOption
from impasto.provenance.manifest import RECORD_LABEL
from impasto.provenance.record import METADATA_KEY
from impasto.provenance.signing import c2pa_module, mime_type

STATES = ("trusted", "untrusted", "tampered", "none")
EXPLAIN = {
    "trusted": "valid and trusted: signed by a certificate that chains to a trust anchor",
    "untrusted": "valid but untrusted signer: the file is as signed, but the certificate "
                 "chains to no trust anchor given",
    "tampered": "tampered: the file changed after it was signed (or its manifest is damaged)",
    "none": "none: no C2PA manifest in this file",
}


@dataclass
class Inspection:
    path: str
    state: str
    signer: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None  # from the manifest
    plain_record: dict[str, Any] | None = None  # from the file's own metadata
    problems: list[str] = field(default_factory=list)  # validation failure codes

    @property
    def records_agree(self) -> bool | None:
        """Whether the manifest's record and the plain one say the same (None: not both)."""
        if self.record is None or self.plain_record is None:
            return None
        return _canonical(self.record) == _canonical(self.plain_record)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "state": self.state, "explanation": EXPLAIN[self.state],
                "signer": self.signer, "actions": self.actions,
                "ingredients": self.ingredients, "problems": self.problems,
                "records_agree": self.records_agree, "record": self.record,
                "plain_record": self.plain_record}


def inspect_file(path: str | os.PathLike[str],
                 trust: list[str | os.PathLike[str]] | None = None) -> Inspection:
    """What ``path`` says of how it was made, checked against the ``trust`` anchors (PEM
    files of certificate authorities)."""
    c2pa = c2pa_module()
    file = Path(path)
    if not file.is_file():
        raise InvalidImage(f"not found: {file}")
    mime = mime_type(file)
    anchors = "".join(_anchor(p) for p in trust or ())
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                                           "verify_trust": True}}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    out = Inspection(str(file), "none", plain_record=_plain_record(file))
    try:
        with open(file, "rb") as fh, c2pa.Reader(mime, fh,
                                                 context=c2pa.Context.from_dict(settings)) as r:
            state = r.get_validation_state()
            manifest = r.get_active_manifest() or {}
            results = r.get_validation_results() or {}
    except Exception as exc:  # c2pa raises its own error types
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc) \
                or "not found" in str(exc).lower():
            return out
        out.state = "tampered"
        out.problems = [str(exc).splitlines()[0][:200]]
        return out
    failures = _codes(results, "failure")
    out.problems = failures
    if state == "Trusted":
        out.state = "trusted"
    elif state == "Valid" or (failures and all(c.startswith("signingCredential.untrusted")
                                                for c in failures)):
        out.state = "untrusted"
    else:
        out.state = "tampered"
    info = manifest.get("signature_info") or {}
    out.signer = {k: info[k] for k in ("issuer", "common_name", "alg", "time")
                  if info.get(k)}
    for assertion in manifest.get("assertions") or ():
        if assertion.get("label", "").startswith("c2pa.actions"):
            out.actions = list((assertion.get("data") or {}).get("actions") or ())
        elif assertion.get("label") == RECORD_LABEL:
            out.record = _parse((assertion.get("data") or {}).get("json"))
    out.ingredients = [{k: v for k, v in i.items() if k not in ("label",)}
                       for i in manifest.get("ingredients") or ()]
    return out


def _anchor(path: str | os.PathLike[str]) -> str:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidOption(f"cannot read the trust anchor {path}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InvalidOption(f"the trust anchor {path} is not a PEM certificate")
    return text if text.endswith("\n") else text + "\n"


def _codes(results: dict[str, Any], kind: str) -> list[str]:
    found: list[str] = []
    active = results.get("activeManifest") or {}
    for item in active.get(kind) or ():
        if item.get("code"):
            found.append(str(item["code"]))
    return found


def _plain_record(file: Path) -> dict[str, Any] | None:
    from impasto.image.save import read_metadata

    try:
        value = read_metadata(file).get(METADATA_KEY)
    except InvalidImage:
        return None
    return _parse(value)


def _parse(value: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)
