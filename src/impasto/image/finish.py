"""The last step of a feed-forward picture: colour preservation and the blend with the
content, on tensors, or on numpy arrays when no colour is preserved (a network run in
onnxruntime, which never loads PyTorch)."""

from __future__ import annotations

from typing import TypeVar

from impasto.errors import InvalidOption

Pixels = TypeVar("Pixels")  # a (B, 3, H, W) torch.Tensor or numpy array in [0, 1]


def finish(styled: Pixels, content: Pixels, *, strength: float = 1.0,
           preserve_color: str = "none") -> Pixels:
    """Colour preservation and the blend with the content (``strength`` 1 = all network)."""
    if preserve_color in ("luminance", "histogram"):
        from impasto.image import color

        styled = (color.transfer_luminance(styled, content) if preserve_color == "luminance"
                  else color.match_color_histogram(styled, content))  # type: ignore[arg-type]
    elif preserve_color != "none":
        raise InvalidOption(f"preserve-color must be none, luminance or histogram, not "
                            f"{preserve_color!r}")
    if strength < 1.0:  # checked where the options were built (impasto.config)
        styled = strength * styled + (1.0 - strength) * content  # type: ignore[operator]
    return styled.clip(0.0, 1.0)  # type: ignore[attr-defined]
