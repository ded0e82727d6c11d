"""The runtime policy: one function decides where and how each kind of work runs.

A front end resolves the user's choices (``device``, ``precision``, ``backend``; ``auto``
included) once, through :func:`choose_runtime`, and reports what it chose; the engines take
the resulting :class:`Runtime` and never decide for themselves.

What is chosen for each kind of work (``Workload``), and why:

- ``optimize`` (VGG-19 forward and backward, many steps): bf16 autocast where the hardware
  does bf16 natively (it halves VGG's time at equal quality, docs/benchmarks.md);
  channels-last with bf16 on CPUs with AMX, where oneDNN's bf16 convolutions measured a fifth
  faster for it (docs/benchmarks.md, "Time per optimisation step"); NCHW elsewhere: in fp32
  the two measured level, and on an AVX512-bf16 CPU without AMX (AMD) a channels-last network
  measured slower (experiments/NOTES.md).
- ``network`` (small per-style networks): on CPUs, ``backend="auto"`` runs the float32 ONNX
  export in onnxruntime where it is installed: the fastest of torch (fp32, bf16, each NCHW and
  channels-last) and onnxruntime, on a CPU with bf16 and on one without (benchmarks/backends.py,
  docs/benchmarks.md "Backends"). torch where onnxruntime is missing, on GPUs, and where the
  user asks for a torch feature (bf16/fp16, channels-last, compile); float32 on CPUs when
  ``auto`` (their time goes to norms and padding, not to matmuls).
- ``arbitrary`` (VGG-19 encoder + decoder, one pass): bf16 autocast where native;
  channels-last on CPUs, where oneDNN's convolutions measured faster for it
  (docs/benchmarks.md, AdaIN latency).
- ``training`` (VGG-19 loss network and a network being trained): bf16 autocast where native;
  channels-last on CUDA (tensor cores), NCHW on CPUs, where it measured slower for VGG's
  forward and backward.

Which of these is fastest on each kind of CPU is measured by the speed benchmarks; change the
table here, and only here, when they say so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args

from impasto.errors import InvalidOption
from impasto.runtime.device import is_cpu, resolve_device
from impasto.runtime.precision import resolve_precision

if TYPE_CHECKING:
    import torch

Workload = Literal["optimize", "network", "arbitrary", "training"]
WORKLOADS: tuple[str, ...] = get_args(Workload)
Backend = Literal["auto", "torch", "onnx"]
BACKENDS: tuple[str, ...] = get_args(Backend)


@dataclass(frozen=True)
class Runtime:
    """Where and how a run computes: a concrete device, precision, memory format and
    backend (no ``auto`` left). ``device`` is a ``torch.device``; for onnxruntime, which
    runs without PyTorch, it is the name ``"cpu"``."""

    device: Any  # torch.device, or "cpu" for backend onnx
    precision: str  # fp32, bf16 or fp16
    channels_last: bool = False
    backend: str = "torch"

    @property
    def memory_format(self) -> torch.memory_format:
        import torch

        return torch.channels_last if self.channels_last else torch.contiguous_format

    def to_dict(self) -> dict[str, str | bool]:
        return {"device": str(self.device), "precision": self.precision,
                "channels_last": self.channels_last, "backend": self.backend}


@lru_cache(maxsize=1)
def onnxruntime_available() -> bool:
    """Whether onnxruntime is installed (``pip install 'impasto[onnx]'``); not imported here."""
    return importlib.util.find_spec("onnxruntime") is not None


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later), where oneDNN's bf16
    convolutions run fastest channels-last."""
    import torch

    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def choose_runtime(workload: str, device: str | torch.device = "cpu", *,
                   precision: str = "auto", backend: str = "auto",
                   channels_last: bool | None = None, compile: bool = False) -> Runtime:
    """The :class:`Runtime` for ``workload`` on ``device`` with the user's choices (``auto``
    and ``None`` resolved here; see the module's table). ``compile`` says the user asked for
    torch.compile (a torch feature)."""
    if workload not in WORKLOADS:
        raise InvalidOption(f"workload must be one of {', '.join(WORKLOADS)}, not {workload!r}")
    if backend not in BACKENDS:
        raise InvalidOption(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "auto":
        torch_asked = compile or bool(channels_last) or precision not in ("auto", "fp32")
        backend = ("onnx" if workload == "network" and not torch_asked
                   and onnxruntime_available() and is_cpu(device) else "torch")
    if backend == "onnx":
        if workload != "network":
            raise InvalidOption("--backend onnx runs trained networks only")
        if not is_cpu(device):
            raise InvalidOption("--backend onnx runs on the CPU; use --device cpu")
        # onnxruntime runs the float32 export, without PyTorch.
        return Runtime("cpu", "fp32", False, "onnx")
    dev = resolve_device(device)
    if workload == "network" and precision == "auto" and dev.type == "cpu":
        resolved = "fp32"
    else:
        resolved = resolve_precision(precision, dev)
    if channels_last is None:
        channels_last = ((workload == "arbitrary" and dev.type == "cpu")
                         or (workload == "optimize" and dev.type == "cpu" and resolved == "bf16"
                             and cpu_has_amx())
                         or (workload == "training" and dev.type == "cuda"))
    return Runtime(dev, resolved, bool(channels_last), backend)
