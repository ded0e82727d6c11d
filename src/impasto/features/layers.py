"""VGG-19's layers by name (torch-free: options are checked against them without loading
PyTorch)."""

from __future__ import annotations

#: Convolutions in each of VGG-19's five blocks.
BLOCKS: tuple[int, ...] = (2, 2, 4, 4, 4)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, n_convs in enumerate(BLOCKS, start=1):
        for conv in range(1, n_convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Every named layer, in forward order.
LAYER_NAMES: tuple[str, ...] = _layer_names()
