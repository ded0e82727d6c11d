"""Built-in sample pictures for the demo: no user files, no network.

The content is scikit-image's sample photo ``chelsea`` (a cat; it ships inside the scikit-image
wheel). The style is a painting impasto makes itself: swirling brush strokes (colour noise
smeared along a field of vortices by line-integral convolution), in a night-sky palette.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_PALETTE = np.array([
    [0.05, 0.09, 0.25],  # night blue
    [0.12, 0.25, 0.55],  # cobalt
    [0.30, 0.50, 0.75],  # sky blue
    [0.85, 0.75, 0.30],  # ochre
    [0.98, 0.92, 0.55],  # pale yellow
    [0.10, 0.22, 0.15],  # dark green
])


def demo_content() -> np.ndarray:
    """scikit-image's 'chelsea' photo (HxWx3 uint8)."""
    from skimage import data

    return np.ascontiguousarray(data.chelsea())


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-9)


def _flow(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    vy = np.zeros(shape)
    vx = np.full(shape, 0.35)  # a gentle wind to the right
    for _ in range(7):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(0.08, 0.22) * max(h, w)
        spin = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.0)
        dy, dx = yy - cy, xx - cx
        fall = np.exp(-(dx**2 + dy**2) / (2 * radius**2))
        vy += spin * dx / radius * fall
        vx -= spin * dy / radius * fall
    norm = np.sqrt(vx**2 + vy**2) + 1e-9
    return vy / norm, vx / norm


def _smear(channels: np.ndarray, vy: np.ndarray, vx: np.ndarray, length: int) -> np.ndarray:
    """Line-integral convolution: average each channel along the flow's streamlines."""
    h, w = vy.shape
    acc = channels.copy()
    for direction in (1.0, -1.0):
        py, px = np.mgrid[0:h, 0:w].astype(np.float64)
        for _ in range(length):
            sy = ndimage.map_coordinates(vy, [py, px], order=1, mode="wrap")
            sx = ndimage.map_coordinates(vx, [py, px], order=1, mode="wrap")
            py, px = py + direction * sy, px + direction * sx
            for c in range(channels.shape[0]):
                acc[c] += ndimage.map_coordinates(channels[c], [py, px], order=1, mode="wrap")
    return acc / (2 * length + 1)


def demo_style(size: int = 320, seed: int = 7) -> np.ndarray:
    """A generated swirling night-sky painting (size x size x 3 uint8), the same for a seed."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    # Colour: a smooth field indexes the palette; brighter near the vortices' rims.
    tone = _smooth_noise(rng, shape, size / 10) * 0.9 + _smooth_noise(rng, shape, size / 40) * 0.4
    index = np.clip((tone + 2.0) / 4.0 * (len(_PALETTE) - 1), 0, len(_PALETTE) - 1.001)
    low = np.floor(index).astype(int)
    frac = (index - low)[..., None]
    colour = _PALETTE[low] * (1 - frac) + _PALETTE[low + 1] * frac
    vy, vx = _flow(shape, rng)
    # Strokes: coarse colour noise and fine grain smeared along the flow.
    grain = rng.random(shape)
    stack = np.concatenate([colour.transpose(2, 0, 1), grain[None]], axis=0)
    stack += rng.normal(0, 0.08, stack.shape)
    smeared = _smear(stack, vy, vx, length=max(6, size // 28))
    paint, strokes = smeared[:3], smeared[3]
    strokes = (strokes - strokes.mean()) / (strokes.std() + 1e-9)
    image = paint * (1.0 + 0.18 * strokes)[None]
    image = np.clip(image.transpose(1, 2, 0), 0, 1)
    return (image * 255 + 0.5).astype(np.uint8)
