"""What an engine hands back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Rendered:
    """What an engine made: the picture, the options as they ran (the seed filled in), and
    the method's parts of the provenance record."""

    #: (1, 3, H, W) float in [0, 1] on the CPU: a tensor, or a numpy array from a path that
    #: never touches PyTorch (a network in onnxruntime).
    pixels: torch.Tensor | np.ndarray
    options: Any
    parts: dict[str, Any]
    method: str

    @property
    def tensor(self) -> torch.Tensor:
        import torch

        return torch.as_tensor(self.pixels)
