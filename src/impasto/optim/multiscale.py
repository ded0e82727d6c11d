"""The variables L-BFGS moves: the picture's pixels, or the pixels and coarser copies of them.

With ``levels`` coarser copies the picture is ``x = z0 + sum_k LEVEL_FACTOR**k * up(z_k)``,
``z_k`` at 1 / 2**k of the size (k = 1 ... levels), started at ``z0 = x0`` and ``z_k = 0``.
L-BFGS over these variables is L-BFGS over the pixels whose starting inverse Hessian is
``gamma * (I + sum_k LEVEL_FACTOR**(2k) U_k U_k^T)`` instead of ``gamma * I`` (``U_k`` the
enlargement): changes broader than a pixel take longer steps from the first one, which the
quasi-Newton model otherwise learns only over many steps. It costs three small resizes an
evaluation, no VGG pass. Chosen on the validation pairs for a still's finest scale
(experiments/NOTES.md, "A coarser first scale, and the finest scale over four sizes").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Weight of each coarser copy against the next finer one: at 0.5 a coarse variable moves
#: the picture about as far for its gradient as a pixel does (each stands for 4**k pixels).
LEVEL_FACTOR = 0.5
#: No copy's long side is below this: smaller copies would move the whole picture at once.
MIN_COPY_SIDE = 64


def levels_for(size: tuple[int, int], wanted: int) -> int:
    """Coarser copies of a picture of ``size`` (H, W): ``wanted``, or fewer where the smallest
    copy's long side would be under :data:`MIN_COPY_SIDE`."""
    long_side = max(size)
    fit = math.floor(math.log2(long_side / MIN_COPY_SIDE)) if long_side > 0 else 0
    return max(0, min(int(wanted), fit))


def variables_per_pixel(levels: int) -> float:
    """About how many numbers L-BFGS moves for each of the picture's with ``levels`` copies
    (each of its history's pairs is that much larger)."""
    return sum(4.0 ** -k for k in range(levels + 1))


class Multiscale:
    """The variables of one optimisation over a picture (1, C, H, W) and the picture they
    make; ``levels == 0`` is the pixels themselves."""

    def __init__(self, init: torch.Tensor, levels: int = 0) -> None:
        self.levels = int(levels)
        x = init.detach().float().clone(memory_format=torch.contiguous_format)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        self.size = (h, w)
        self.variables = [x.requires_grad_(True)] + [
            x.new_zeros(1, x.shape[1], max(1, math.ceil(h / 2 ** k)),
                        max(1, math.ceil(w / 2 ** k))).requires_grad_(True)
            for k in range(1, self.levels + 1)]
        #: Numbers L-BFGS moves, over all the variables.
        self.numel = sum(v.numel() for v in self.variables)

    def picture(self) -> torch.Tensor:
        """The picture the variables make (differentiable)."""
        return _synthesis(self.variables, self.size)

    @torch.no_grad()
    def reset(self, image: torch.Tensor) -> None:
        """Variables that make ``image``: the pixels ``image``, every coarser copy zero."""
        self.variables[0].copy_(image)
        for z in self.variables[1:]:
            z.zero_()

    def step(self, s: torch.Tensor) -> torch.Tensor:
        """A change of the pixels (flat) as a change of the variables: of the pixels alone."""
        return torch.cat([s, s.new_zeros(self.numel - s.numel())]) if self.levels else s

    def gradient(self, g: torch.Tensor) -> torch.Tensor:
        """A gradient over the pixels (flat) as one over the variables (the adjoint of
        :meth:`picture`), so that a pair's curvature ``y . s`` is the same in both."""
        if not self.levels:
            return g
        probes = [v.detach().clone().requires_grad_(True) for v in self.variables]
        with torch.enable_grad():
            _synthesis(probes, self.size).backward(g.view(1, -1, *self.size))
        return torch.cat([p.grad.flatten() for p in probes])  # type: ignore[union-attr]


def _synthesis(variables: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """``z0 + sum_k LEVEL_FACTOR**k * up(z_k)`` at ``size`` (H, W)."""
    x = variables[0]
    for k, z in enumerate(variables[1:], start=1):
        x = x + LEVEL_FACTOR ** k * F.interpolate(z, size=size, mode="bilinear",
                                                  align_corners=False)
    return x
