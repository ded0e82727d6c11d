"""The optimisation loop: one scale, L-BFGS or Adam, with divergence recovery and cancellation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from impasto.errors import Diverged
from impasto.events import CancelToken
from impasto.optim.multiscale import Multiscale

#: Objective: image -> (scalar loss to minimise, named parts for reporting).
Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
#: Called after every step with (step index from 1, loss, parts, current image).
StepHook = Callable[[int, float, dict[str, float], torch.Tensor], None]

#: Bytes of L-BFGS history we allow per run; caps history_size for huge images.
LBFGS_HISTORY_BYTES = 1 << 30
MAX_RECOVERIES = 3


@dataclass
class EngineOptions:
    optimizer: str = "lbfgs"
    learning_rate: float = 0.02
    lbfgs_history: int = 50
    #: Coarser copies of the picture that L-BFGS moves too (:mod:`impasto.optim.multiscale`).
    levels: int = 0


@dataclass
class LbfgsMemory:
    """What L-BFGS learnt of an objective's curvature (its last ``pairs`` pairs of steps and
    gradient changes, and its scale), kept from one run for the next run on a similar
    objective of the same size: a video's frame for the next frame. A fresh L-BFGS takes a
    tiny gradient step first (it knows no scale yet); seeded, its first step is a full
    quasi-Newton one. :func:`optimise` reads it at the start and writes it at the end."""

    pairs: int = 5
    numel: int = 0
    scale: float | None = None
    steps: list[torch.Tensor] = field(default_factory=list)
    changes: list[torch.Tensor] = field(default_factory=list)
    inverse: list[float] = field(default_factory=list)

    def seed(self, opt: torch.optim.Optimizer, space: Multiscale) -> None:
        """Start ``opt`` (a fresh L-BFGS over ``space``'s variables) from this memory, if it
        is of a picture of ``space``'s size (pairs over the pixels, moved to the variables)."""
        x = space.variables[0]
        if self.scale is None or self.numel != x.numel():
            return
        state = opt.state[x]
        # No more pairs than the optimiser's history holds (a memory budget may cap it).
        keep = slice(max(0, len(self.steps) - int(opt.defaults["history_size"]) + 1), None)
        # As if one iteration had run whose step was zero: the next one adds no pair from
        # it (y.s = 0) and takes the quasi-Newton direction with a full step length.
        state.update(func_evals=0, n_iter=1, d=x.new_zeros(space.numel), t=0.0,
                     old_dirs=[space.gradient(t.to(x.device)) for t in self.changes[keep]],
                     old_stps=[space.step(t.to(x.device)) for t in self.steps[keep]],
                     ro=list(self.inverse[keep]), H_diag=self.scale,
                     prev_flat_grad=x.new_zeros(space.numel), prev_loss=0.0)

    def keep(self, opt: torch.optim.Optimizer, space: Multiscale) -> None:
        """Remember what ``opt`` learnt over ``space``'s pixels (nothing when it moved
        coarser copies too: its pairs are not of the pixels alone)."""
        x = space.variables[0]
        state = opt.state.get(x, {})
        if space.levels or "H_diag" not in state or int(state.get("n_iter", 0)) < 2:
            return
        keep = slice(max(0, len(state["old_dirs"]) - self.pairs), None)
        self.numel = x.numel()
        self.scale = float(state["H_diag"])
        self.changes = list(state["old_dirs"][keep])
        self.steps = list(state["old_stps"][keep])
        self.inverse = [float(r) for r in state["ro"][keep]]

    def resized(self, before: tuple[int, int], after: tuple[int, int]) -> LbfgsMemory:
        """This memory for the same objective on a picture resized from ``before`` to
        ``after`` (the pyramid's next scale): steps are enlarged as pictures are; as the
        objective is a mean over positions, gradient changes shrink by the ratio of pixel
        counts and the scale grows by it. Pairs the enlargement leaves without positive
        curvature are dropped."""
        out = LbfgsMemory(pairs=self.pairs)
        if self.scale is None or not self.steps:
            return out
        ratio = (after[0] * after[1]) / (before[0] * before[1])

        def enlarged(v: torch.Tensor) -> torch.Tensor:
            picture = v.view(1, -1, *before)
            return F.interpolate(picture, size=after, mode="bilinear",
                                 align_corners=False).flatten()

        for s, y in zip(self.steps, self.changes, strict=True):
            s, y = enlarged(s), enlarged(y) / ratio
            curvature = float(y @ s)
            if curvature > 1e-10:
                out.steps.append(s)
                out.changes.append(y)
                out.inverse.append(1.0 / curvature)
        if out.steps:
            out.numel = out.steps[0].numel()
            out.scale = self.scale * ratio
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The memory as arrays (empty before a run), for :meth:`restore`."""
        if self.scale is None:
            return {}
        def stacked(vectors: list[torch.Tensor]) -> np.ndarray:
            if not vectors:
                return np.zeros((0, self.numel), np.float32)
            return torch.stack(vectors).cpu().numpy()

        return {"numel": np.array(self.numel), "scale": np.array(self.scale),
                "steps": stacked(self.steps), "changes": stacked(self.changes),
                "inverse": np.array(self.inverse, np.float64)}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave (an empty state: nothing)."""
        if "scale" not in state:
            return
        self.numel, self.scale = int(state["numel"]), float(state["scale"])
        self.steps = [torch.from_numpy(np.array(a)) for a in state["steps"]]
        self.changes = [torch.from_numpy(np.array(a)) for a in state["changes"]]
        self.inverse = [float(r) for r in state["inverse"]]


def _lbfgs_history(numel: int, wanted: int) -> int:
    # Each history entry keeps two vectors of the image's size (s and y).
    per_entry = 2 * numel * 4
    return max(5, min(wanted, LBFGS_HISTORY_BYTES // max(per_entry, 1)))


def _make_optimizer(space: Multiscale, opts: EngineOptions,
                    lr_scale: float) -> torch.optim.Optimizer:
    if opts.optimizer == "adam":
        return torch.optim.Adam(space.variables, lr=opts.learning_rate * lr_scale)
    # Gatys et al. (2016) use L-BFGS; one iteration per step() call so that progress,
    # previews and cancellation happen between iterations. No line search: one objective
    # evaluation per step, the cost model of the progress bar.
    return torch.optim.LBFGS(
        space.variables,
        lr=lr_scale,
        max_iter=1,
        history_size=_lbfgs_history(space.numel, opts.lbfgs_history),
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )


def optimise(
    objective: Objective,
    init: torch.Tensor,
    steps: int,
    *,
    options: EngineOptions,
    on_step: StepHook | None = None,
    cancel: CancelToken | None = None,
    memory: LbfgsMemory | None = None,
) -> torch.Tensor:
    """Minimise ``objective`` over the pixels of ``init`` for ``steps`` steps; return the image.

    With ``options.levels`` (L-BFGS only) the optimiser also moves that many coarser copies
    of the picture (:class:`~impasto.optim.multiscale.Multiscale`). A NaN or inf loss restores
    the last finite image, resets the optimiser's state and halves its step size; after
    :data:`MAX_RECOVERIES` failures :class:`Diverged` is raised.
    """
    evaluate = getattr(objective, "evaluate", None)
    # Objectives too large for one autograd graph (tiled) give the pixels' gradient only.
    levels = options.levels if options.optimizer == "lbfgs" and evaluate is None else 0
    space = Multiscale(init, levels)
    x = space.variables[0]
    last_good = x.detach().clone()
    lr_scale = 1.0
    opt = _make_optimizer(space, options, lr_scale)
    if memory is not None and options.optimizer == "lbfgs":
        memory.seed(opt, space)
    recoveries = 0
    step = 0
    parts: dict[str, float] = {}

    def closure() -> torch.Tensor:
        nonlocal parts
        opt.zero_grad(set_to_none=True)
        if evaluate is not None:
            loss, grad, parts = evaluate(x.detach())
            x.grad = grad if torch.isfinite(loss) else torch.zeros_like(x)
            return loss
        loss, parts = objective(space.picture())
        if torch.isfinite(loss):
            loss.backward()
        else:
            # Give the optimiser a zero gradient; we restore below.
            for v in space.variables:
                v.grad = torch.zeros_like(v)
        return loss

    while step < steps:
        if cancel is not None:
            cancel.raise_if_cancelled()
        loss = opt.step(closure)
        value = float(loss.detach())
        with torch.no_grad():
            image = space.picture().detach()
        bad = not math.isfinite(value) or not bool(torch.isfinite(image).all())
        if bad:
            recoveries += 1
            if recoveries > MAX_RECOVERIES:
                raise Diverged(
                    f"the optimisation diverged (loss {value}) {MAX_RECOVERIES} times after "
                    "restarting; try a lower learning rate, --optimizer adam or fewer style layers"
                )
            space.reset(last_good)
            lr_scale *= 0.5
            opt = _make_optimizer(space, options, lr_scale)
            continue
        if options.optimizer == "adam":
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
        last_good.copy_(image)
        step += 1
        if on_step is not None:
            on_step(step, value, parts, image)
    if memory is not None and options.optimizer == "lbfgs":
        memory.keep(opt, space)
    with torch.no_grad():
        return space.picture().clamp(0.0, 1.0)
