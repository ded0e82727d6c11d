"""Provenance on the command line: the signing options every command that writes pictures or
videos takes, the reminder about a style's unknown licence, and ``impasto inspect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from impasto.errors import InvalidOption

err = Console(stderr=True)

SignCertOpt = Annotated[Path | None, typer.Option(
    "--sign-cert", help="Certificate chain (PEM) to sign the C2PA manifest with (default: "
                        "$IMPASTO_SIGN_CERT, else a local test certificate).")]
SignKeyOpt = Annotated[Path | None, typer.Option(
    "--sign-key", help="Its private key (PEM; default: $IMPASTO_SIGN_KEY).")]
NoProvenanceOpt = Annotated[bool, typer.Option(
    "--no-provenance", help="Write no provenance: neither the signed C2PA manifest nor the "
                            "plain record.")]
StyleLicenceOpt = Annotated[list[str] | None, typer.Option(
    "--style-licence", help="Licence of a style picture of yours (one per style, in order), "
                            "recorded in the output's provenance.")]
StyleAttributionOpt = Annotated[list[str] | None, typer.Option(
    "--style-attribution", help="Attribution of a style picture of yours (one per style, in "
                                "order).")]


def signer_from_cli(no_provenance: bool, cert: Path | None, key: Path | None) -> Any:
    """The signer the options ask for (checked now, before any work), or False."""
    if no_provenance:
        if cert is not None or key is not None:
            raise InvalidOption("--no-provenance and --sign-cert/--sign-key do not go together")
        return False
    from impasto.provenance.signing import default_signer

    return default_signer(cert, key)


_noted: set[str] = set()


def after_writing(signer: Any, record: dict[str, Any] | None) -> None:
    """What to tell the user once an output is written: that a local test certificate was
    just made to sign it (once), and that a style's licence is unknown."""
    from impasto.provenance.credentials import config_dir
    from impasto.provenance.signing import resolve_signer

    signer = resolve_signer(signer)
    if signer is None:
        return
    if signer.credentials.created and signer.credentials.fingerprint() not in _noted:
        _noted.add(signer.credentials.fingerprint())
        err.print(f"impasto: made a local test certificate to sign provenance with "
                  f"({config_dir() / 'c2pa'}): its manifests verify as untrusted elsewhere; "
                  "--sign-cert/--sign-key sign with yours", highlight=False)
    if record is not None:
        remind_unknown_licences(record)


def style_terms_from_cli(licences: list[str] | None, attributions: list[str] | None
                         ) -> list[dict[str, str]]:
    """One mapping per style, in order, from the repeated options."""
    licences, attributions = list(licences or ()), list(attributions or ())
    terms: list[dict[str, str]] = []
    for i in range(max(len(licences), len(attributions))):
        item = {}
        if i < len(licences):
            item["licence"] = licences[i]
        if i < len(attributions):
            item["attribution"] = attributions[i]
        terms.append(item)
    return terms


def remind_unknown_licences(record: dict[str, Any]) -> None:
    """One line when a style's licence is unknown (its author's rights may apply)."""
    from impasto.provenance.manifest import UNKNOWN_LICENCE, style_terms

    unknown = [str(s.get("name")) for s in record.get("styles") or ()
               if style_terms(s)["licence"] == UNKNOWN_LICENCE]
    if unknown:
        err.print(f"impasto: note: the licence of {', '.join(unknown)} is unknown: the rights "
                  "of the style's author may apply to this picture (--style-licence records "
                  "it)", highlight=False)


def inspect(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="A picture or video.")],
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="A certificate authority (PEM) to trust; repeatable.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who made FILE, how, from which sources (with their licences), and whether its signed
    C2PA manifest is valid and trusted, valid but from an untrusted signer, tampered, or
    missing."""
    from impasto.provenance.inspect import EXPLAIN, inspect_file

    found = inspect_file(path, trust=list(trust or ()))
    if json_out:
        print(json.dumps(found.to_dict(), default=str))
        return
    print(f"{path}: {EXPLAIN[found.state]}")
    if found.signer:
        print(f"  signed by: {found.signer.get('common_name', '?')} "
              f"({found.signer.get('issuer', '?')})")
    if found.problems and found.state != "untrusted":
        print(f"  problems: {', '.join(found.problems)}")
    for action in found.actions:
        if action.get("action") == "c2pa.opened":
            continue
        agent = action.get("softwareAgent") or {}
        params = action.get("parameters") or {}
        print(f"  {action.get('action')}: {action.get('description', '')} "
              f"[{agent.get('name', '')} {agent.get('version', '')}]")
        options = params.get("options") or {}
        if options:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if v is not None)
            print(f"    options: {shown}")
        source = str(action.get("digitalSourceType", "")).rsplit("/", 1)[-1]
        if source:
            print(f"    digital source type: {source}")
    for ingredient in found.ingredients:
        meta = ingredient.get("metadata") or {}
        sha = str(meta.get("org.impasto.sha256", ""))[:16]
        line = f"  {ingredient.get('relationship', '?')}: {ingredient.get('title', '?')}"
        if ingredient.get("description"):
            line += f" ({ingredient['description']})"
        if sha:
            line += f" sha256 {sha}..."
        print(line)
    agree = found.records_agree
    if agree is not None:
        print(f"  plain record: {'agrees with' if agree else 'DIFFERS from'} the manifest")
    elif found.plain_record is not None:
        print("  plain record only (no manifest)")


def register(app: typer.Typer) -> None:
    app.command()(inspect)
