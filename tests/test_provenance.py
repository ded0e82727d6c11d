"""Signed provenance (C2PA) end to end: every output format and front end signs, the manifest
verifies with the test anchor and says how and from what the picture was made, tampering is
caught, bad certificates fail before any work, and signing never changes the pixels."""

from __future__ import annotations

import datetime
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto.pipeline import Pipeline, Request
from impasto.provenance.credentials import config_dir, local_credentials
from impasto.provenance.inspect import inspect_file
from impasto.provenance.manifest import UNKNOWN_LICENCE
from impasto.provenance.signing import ManifestSigner
from tests.conftest import stripes, synthetic_rgb
from tests.test_cli import assert_one_line_error, run

FORMATS = ["png", "jpg", "webp", "tif"]
ADAIN = ["--method", "adain", "--encoder", "student-relu4_1", "--size", "48", "--device",
         "cpu"]


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    request = Request(synthetic_rgb(40, 56), [stripes(48, 48)], method="adain",
                      options={"encoder": "student-relu4_1", "size": 56},
                      style_terms=[{"licence": "CC BY 4.0", "attribution": "A. Painter"}])
    return Pipeline("cpu").render(request)


def anchor() -> Path:
    local_credentials()
    return config_dir() / "c2pa" / "ca.pem"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_round_trips_trusted_with_the_test_anchor(result, tmp_path: Path,
                                                               ext: str) -> None:
    out = result.save(tmp_path / f"out.{ext}")
    trusted = inspect_file(out, trust=[anchor()])
    assert trusted.state == "trusted", trusted.problems
    assert inspect_file(out).state == "untrusted"  # the local authority is trusted nowhere
    assert trusted.records_agree is True and trusted.record is not None
    assert trusted.record["method"] == "adain"
    actions = [a["action"] for a in trusted.actions]
    assert actions == ["c2pa.opened", "c2pa.edited"]
    edit = trusted.actions[1]
    assert edit["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert edit["softwareAgent"]["name"] == "impasto"
    assert edit["parameters"]["options"]["encoder"] == "student-relu4_1"
    kinds = {i["relationship"]: i for i in trusted.ingredients}
    content, style = kinds["parentOf"], kinds["componentOf"]
    assert content["instance_id"] == f"sha256:{result.record['content']['sha256']}"
    assert style["metadata"]["org.impasto.licence"] == "CC BY 4.0"
    assert style["metadata"]["org.impasto.attribution"] == "A. Painter"
    assert kinds["inputTo"]["instance_id"].startswith("sha256:")  # the encoder or decoder


def test_signing_never_changes_the_pixels_or_truncates(result, tmp_path: Path) -> None:
    for ext in FORMATS:
        signed = result.save(tmp_path / f"signed.{ext}")
        plain = result.save(tmp_path / f"plain.{ext}", provenance=False)
        assert np.array_equal(pixels(signed), pixels(plain)), ext
        assert signed.stat().st_size > plain.stat().st_size
    sixteen = result.save(tmp_path / "deep.png", bit_depth=16)
    assert inspect_file(sixteen, trust=[anchor()]).state == "trusted"
    plain16 = result.save(tmp_path / "deep_plain.png", bit_depth=16, provenance=False)
    import png

    def rows(path: Path) -> list[bytes]:
        _, _, data, info = png.Reader(filename=str(path)).read()
        assert info["bitdepth"] == 16
        return [bytes(row) for row in data]

    assert rows(sixteen) == rows(plain16)
    assert not list(tmp_path.glob(".*"))


def test_without_provenance_there_is_none_and_the_picture_reads(result,
                                                                tmp_path: Path) -> None:
    out = result.save(tmp_path / "bare.png", provenance=False)
    found = inspect_file(out)
    assert found.state == "none" and found.plain_record is None
    assert pixels(out).shape == (40, 56, 3)


# ------------------------------------------------------------------------------ tampering


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        chunks.append((kind, data[at + 8:at + 8 + length]))
        at += 12 + length
    return chunks


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body
                   + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return b"".join(out)


def _png_one_pixel(data: bytes) -> bytes:
    """The same PNG, valid, with one pixel's red changed (IDAT decoded and made again)."""
    chunks = _png_chunks(data)
    raw = bytearray(zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT")))
    raw[1] ^= 0x40  # row 0 after its filter byte: the first pixel's red
    first = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
    rest = [c for c in chunks if c[0] != b"IDAT"]
    rest.insert(first, (b"IDAT", zlib.compress(bytes(raw))))
    return _png(rest)


def _png_chunk_readded(data: bytes) -> bytes:
    """The plain record's chunk stripped and added again, changed."""
    chunks = _png_chunks(data)
    text = [c for c in chunks if c[0] == b"iTXt"]
    assert text
    kept = [c for c in chunks if c[0] != b"iTXt"]
    changed = (b"iTXt", text[0][1].replace(b"adain", b"wct__"))
    kept.insert(1, changed)
    return _png(kept)


def _flip_in_pixels(data: bytes, ext: str) -> bytes:
    """One byte of the compressed picture data changed, where each format keeps it."""
    out = bytearray(data)
    if ext == "jpg":
        at = data.rindex(b"\xff\xda") + 20  # inside the entropy-coded scan
    elif ext == "webp":
        at = max(data.find(b"VP8 "), data.find(b"VP8L")) + 8 + 20  # the bitstream chunk
    else:  # tif: the first strip
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            at = tif.pages[0].dataoffsets[0] + 4
    out[at] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("case", ["png pixel", "png chunk", "jpg", "webp", "tif"])
def test_tampering_is_caught(result, tmp_path: Path, case: str) -> None:
    ext = case.split()[0]
    signed = result.save(tmp_path / f"signed.{ext}").read_bytes()
    changed = {"png pixel": _png_one_pixel, "png chunk": _png_chunk_readded}.get(
        case, lambda d: _flip_in_pixels(d, ext))(signed)
    assert changed != signed
    target = tmp_path / f"changed.{ext}"
    target.write_bytes(changed)
    found = inspect_file(target, trust=[anchor()])
    assert found.state == "tampered", (found.state, found.problems)
    if case == "png pixel":
        assert pixels(target)[0, 0, 0] != pixels(tmp_path / f"signed.{ext}")[0, 0, 0]


# --------------------------------------------------------------------------- credentials


def _authority(tmp_path: Path, *, days: int = 30, key_id: bool = True
               ) -> tuple[Path, Path, Path]:
    """Another authority and a signer it issued: (ca.pem, chain.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Studio Root")])
    usage = {k: False for k in ("content_commitment", "key_encipherment", "data_encipherment",
                                "key_agreement", "encipher_only", "decipher_only")}
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True,
                                       crl_sign=True, **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Studio")]))
               .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                            crl_sign=False, **usage), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                              critical=False))
    if key_id:  # C2PA asks for it
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    paths = tmp_path / "studio-ca.pem", tmp_path / "studio.pem", tmp_path / "studio.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_a_users_certificate_signs_and_its_anchor_trusts(tmp_path: Path, content_png: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    ca, chain, key = _authority(tmp_path)
    out = tmp_path / "out.jpg"
    code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out, *ADAIN,
                       "--sign-cert", chain, "--sign-key", key)
    assert code == 0, err
    assert inspect_file(out, trust=[ca]).state == "trusted"
    assert inspect_file(out, trust=[anchor()]).state == "untrusted"
    code, stdout, _ = run(capsys, "inspect", out, "--trust", ca, "--json")
    shown = json.loads(stdout)
    assert shown["state"] == "trusted" and shown["signer"]["common_name"] == "Studio"
    assert shown["records_agree"] is True


def test_bad_certificates_fail_before_any_work(tmp_path: Path, content_png: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, chain, key = _authority(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_chain, _ = _authority(tmp_path / "other")
    (tmp_path / "bare").mkdir()
    _, bare_chain, bare_key = _authority(tmp_path / "bare", key_id=False)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    out = tmp_path / "out.png"
    cases = [
        (["--sign-cert", tmp_path / "missing.pem", "--sign-key", key], "cannot read"),
        (["--sign-cert", junk, "--sign-key", key], "not a PEM certificate"),
        (["--sign-cert", chain, "--sign-key", junk], "not a PEM private key"),
        (["--sign-cert", other_chain, "--sign-key", key], "is not the key of"),
        (["--sign-cert", chain], "is needed with"),
        (["--sign-cert", bare_chain, "--sign-key", bare_key], "C2PA cannot sign with"),
        (["--no-provenance", "--sign-cert", chain, "--sign-key", key], "do not go together"),
    ]
    for args, needle in cases:
        code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out, *ADAIN,
                           *args)
        assert_one_line_error(code, err, needle)
        assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_no_provenance_writes_no_metadata_at_all(tmp_path: Path, content_png: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out, *ADAIN,
                       "--no-provenance")
    assert code == 0, err
    found = inspect_file(out)
    assert found.state == "none" and found.plain_record is None
    code, stdout, _ = run(capsys, "inspect", out)
    assert code == 0 and "none" in stdout
    code, _, err = run(capsys, "inspect", tmp_path / "missing.png")
    assert_one_line_error(code, err, "not found")
    (tmp_path / "clip.mkv").write_bytes(b"x")
    code, _, err = run(capsys, "inspect", tmp_path / "clip.mkv")
    assert_one_line_error(code, err, "not .mkv")


# ---------------------------------------------------------------------- every front end


def test_every_front_end_signs(tmp_path: Path, content_png: Path, style_png: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_rgb(40, 48, seed=i)).save(folder / f"p{i}.png")
    outputs = []
    code, _, err = run(capsys, "stylize", folder, style_png, "-o", tmp_path / "styled",
                       *ADAIN)
    assert code == 0, err
    assert UNKNOWN_LICENCE.split()[1] in err  # the reminder: the style's licence is unknown
    outputs += sorted((tmp_path / "styled").glob("*.png"))
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "o.webp",
                       "--size", "32", "--iterations", "2", "--device", "cpu",
                       "--style-licence", "CC0")
    assert code == 0, err
    assert "unknown" not in err
    outputs.append(tmp_path / "o.webp")
    code, _, err = run(capsys, "texture", style_png, "-o", tmp_path / "t.tif", "--size", "32",
                       "--iterations", "2", "--device", "cpu")
    assert code == 0, err
    outputs.append(tmp_path / "t.tif")
    code, _, err = run(capsys, "sweep", content_png, style_png, "--param", "strength=0.5,1",
                       "-o", tmp_path / "sheet.jpg", "--size", "32", "--iterations", "2",
                       "--device", "cpu")
    assert code == 0, err
    outputs.append(tmp_path / "sheet.jpg")
    assert len(outputs) == 5
    for path in outputs:
        found = inspect_file(path, trust=[anchor()])
        assert found.state == "trusted", (path, found.problems)
        assert found.records_agree is True, path
    texture = inspect_file(tmp_path / "t.tif")
    assert [a["action"] for a in texture.actions] == ["c2pa.created"]
    licensed = inspect_file(tmp_path / "o.webp")
    style = next(i for i in licensed.ingredients if i["relationship"] == "componentOf")
    assert style["metadata"]["org.impasto.licence"] == "CC0"


def test_style_terms_are_checked(tmp_path: Path, content_png: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out, *ADAIN,
                       "--style-licence", "CC BY")
    assert_one_line_error(code, err, "built-in starry-night", "public domain")
    code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out, *ADAIN,
                       "--style-licence", "a", "--style-licence", "b")
    assert_one_line_error(code, err, "given for 2 styles")
    assert not out.exists()


def test_the_local_authority_is_made_once_and_kept(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_CONFIG", str(tmp_path / "cfg"))
    first = local_credentials()
    assert first.created and first.local
    again = local_credentials()
    assert not again.created and again.chain == first.chain
    folder = tmp_path / "cfg" / "c2pa"
    assert (folder / "signer.key").stat().st_mode & 0o077 == 0
    signer = ManifestSigner(again)
    data = io.BytesIO()
    Image.fromarray(synthetic_rgb(16, 16)).save(data, "PNG")
    signed = signer.sign(data.getvalue(), "image/png", {"software": "impasto 0", "method": "x"},
                         "x.png")
    target = tmp_path / "x.png"
    target.write_bytes(signed)
    assert inspect_file(target, trust=[folder / "ca.pem"]).state == "trusted"
    (folder / "ca.key").unlink()
    with pytest.raises(Exception, match="remove the folder"):
        local_credentials()


def test_video_is_signed(tmp_path: Path) -> None:
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from tests.test_video import decoded, job, panned, write_clip

    clip = write_clip(tmp_path / "clip.mp4", panned(8))
    for name in ("out.mp4", "out.gif"):
        out = tmp_path / name
        from impasto.video.render import render_video

        summary = render_video(job(clip, out))
        assert summary["provenance"].startswith("signed")
        found = inspect_file(out, trust=[anchor()])
        assert found.state == "trusted", found.problems
        assert found.record is not None and found.record["video"]["frames"] == 8
        parent = next(i for i in found.ingredients if i["relationship"] == "parentOf")
        assert parent["title"] == "clip.mp4"
        assert len(decoded(out)[0]) == 8
    summary = render_video(job(clip, tmp_path / "out.mkv"))
    assert summary["provenance"].startswith("none")
    summary = render_video(job(clip, tmp_path / "plain.mp4", provenance=False))
    assert inspect_file(tmp_path / "plain.mp4").state == "none"
    assert not list(tmp_path.glob(".*"))


def test_standard_output_is_signed(tmp_path: Path, content_png: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "impasto", "stylize", "-", "starry-night",
                           "-o", "-", *ADAIN], input=content_png.read_bytes(),
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    out = tmp_path / "piped.png"
    out.write_bytes(proc.stdout)
    found = inspect_file(out, trust=[anchor()])
    assert found.state == "trusted", found.problems
    assert found.record is not None and found.record["styles"][0]["name"] == "starry-night.jpg"
