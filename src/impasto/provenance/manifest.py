"""A picture's provenance record as a C2PA manifest definition (what c2pa-python's ``Builder``
signs).

What it says:

- **actions**: with a content picture, ``c2pa.opened`` (the photo, the parent) then
  ``c2pa.edited``; without one (texture synthesis), ``c2pa.created``. The edit or creation
  carries the IPTC digital source type ``trainedAlgorithmicMedia``: every pixel of the output
  is painted by an algorithm driven by trained models (VGG-19's features for the optimiser, a
  trained network, AdaIN/WCT's trained decoders); no pixel of the photo is kept as it was,
  which ``compositeWithTrainedAlgorithmicMedia`` (captured pixels next to generated ones, as
  in inpainting) would claim. The software (impasto and its version), the method and every
  option that shaped the picture are the action's parameters.
- **ingredients**: the content picture as ``parentOf``, each style picture as
  ``componentOf``, the network, encoder (VGG-19 or a distilled one) and decoders as
  ``inputTo``; each with its
  SHA-256 (the ingredient's ``instance_id`` is ``sha256:<hex>``) and, for a style, its title,
  artist, year, licence and attribution when known (``licence unknown`` when not).
- **org.impasto.record**: the whole plain record, the same JSON as the file's own metadata
  (as a string under ``json``), so the two can be compared (``impasto inspect`` does).
"""

from __future__ import annotations

import json
from typing import Any

from impasto.provenance.record import METHOD_TITLES

#: IPTC digital source type of every output (the reason is in the module's docstring).
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: Label of the assertion holding the plain record.
RECORD_LABEL = "org.impasto.record"
#: What a style whose licence nobody gave is said to have.
UNKNOWN_LICENCE = "licence unknown"

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff",
              ".mp4": "video/mp4", ".mov": "video/quicktime", ".m4v": "video/mp4",
              ".gif": "image/gif"}


def manifest_definition(record: dict[str, Any], *, title: str, mime: str) -> dict[str, Any]:
    """The C2PA manifest definition of an output called ``title`` (``mime``) made as
    ``record`` (:func:`impasto.provenance.build_record`, or a video's record) says."""
    software, _, version = str(record.get("software", "impasto")).partition(" ")
    agent = {"name": software or "impasto", "version": version or "unknown"}
    ingredients: list[dict[str, Any]] = []
    content = record.get("content")
    if content:
        ingredients.append(_ingredient(content, "parentOf", "content", _guess_mime(content)))
    for i, style in enumerate(record.get("styles") or ()):
        ingredients.append(_style_ingredient(style, i))
    ingredients.extend(_model_ingredients(record))
    method = str(record.get("method", ""))
    edit: dict[str, Any] = {
        "action": "c2pa.edited" if content else "c2pa.created",
        "digitalSourceType": SOURCE_TYPE,
        "softwareAgent": agent,
        "description": f"styled by impasto: {METHOD_TITLES.get(method, method)}",
        "parameters": {
            "method": method,
            "options": record.get("options") or {},
            "ingredientIds": [i["label"] for i in ingredients if i["label"] != "content"],
        },
    }
    actions = [edit]
    if content:
        actions.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": ["content"]}})
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": mime,
        "ingredients": ingredients,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            # As a JSON string: c2pa's CBOR carries some number arrays back as other types.
            {"label": RECORD_LABEL, "data": {"json": json.dumps(record, sort_keys=True,
                                                                default=str)}},
        ],
    }


def style_terms(style: dict[str, Any]) -> dict[str, Any]:
    """Title, artist, year, licence and attribution of a style's record (a built-in style's
    from the library; a user's from what they gave), ``licence`` set to
    :data:`UNKNOWN_LICENCE` when nobody said."""
    known = style.get("builtin") or {}
    terms = {"title": known.get("title") or style.get("title") or style.get("name"),
             "artist": known.get("artist") or style.get("artist"),
             "year": known.get("year") or style.get("year"),
             "licence": known.get("licence") or style.get("licence") or UNKNOWN_LICENCE,
             "attribution": style.get("attribution") or known.get("attribution")}
    return {k: v for k, v in terms.items() if v}


def _ingredient(source: dict[str, Any], relationship: str, label: str,
                mime: str) -> dict[str, Any]:
    out: dict[str, Any] = {"title": str(source.get("name") or label), "format": mime,
                           "relationship": relationship, "label": label}
    if source.get("sha256"):
        out["instance_id"] = f"sha256:{source['sha256']}"
        out["metadata"] = {"org.impasto.sha256": source["sha256"]}
    return out


def _style_ingredient(style: dict[str, Any], index: int) -> dict[str, Any]:
    out = _ingredient(style, "componentOf", f"style-{index}", _guess_mime(style))
    terms = style_terms(style)
    out["title"] = str(terms.get("title") or out["title"])
    made = ", ".join(str(terms[k]) for k in ("artist", "year") if terms.get(k))
    words = [made, terms["licence"], terms.get("attribution")]
    out["description"] = "; ".join(str(w) for w in words if w)
    out.setdefault("metadata", {}).update({f"org.impasto.{k}": v for k, v in terms.items()})
    return out


def _model_ingredients(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The trained models a picture was made with (a network, an encoder: VGG-19 or a
    distilled one, decoders), each as an ``inputTo`` ingredient."""
    found: list[tuple[str, dict[str, Any]]] = []
    models = record.get("models")  # a camera recording: the networks it switched between
    if isinstance(models, list):
        found.extend((f"model-{i}", m) for i, m in enumerate(models) if isinstance(m, dict))
    elif isinstance(record.get("model"), dict):
        found.append(("model", record["model"]))
    if isinstance(record.get("encoder"), dict):
        found.append(("encoder", record["encoder"]))
    for layer, decoder in sorted((record.get("decoders") or {}).items()):
        found.append((f"decoder-{layer}", decoder))
    out = []
    for label, model in found:
        item = _ingredient(model, "inputTo", label, "application/octet-stream")
        item["data_types"] = [{"type": "c2pa.types.model"}]
        out.append(item)
    return out


def _guess_mime(source: dict[str, Any]) -> str:
    name = str(source.get("name") or source.get("file") or "").lower()
    suffix = name[name.rfind("."):] if "." in name else ""
    return MIME_TYPES.get(suffix, "application/octet-stream")
