"""Trained per-style networks (Johnson et al. 2016) behind the pipeline.

On a CPU the runtime policy runs a network's ONNX export in onnxruntime; then a picture goes
from reading to writing as a numpy array and PyTorch is never imported, once the export
exists (the model's first use makes it, with PyTorch, into the user's cache: see
:mod:`impasto.models.onnx`). Everything else (the torch backend, colour preservation, a model
given as a loaded object, frames already in tensors) goes through PyTorch.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from impasto.config import NetworkOptions
from impasto.events import CallbackLike, CancelToken
from impasto.image.finish import finish
from impasto.models.folder import read_model_folder
from impasto.models.onnx import OnnxBackend, find_export
from impasto.pipeline.inputs import Picture, fit_size
from impasto.pipeline.rendered import Rendered
from impasto.pipeline.request import Request
from impasto.runtime.policy import Runtime

if TYPE_CHECKING:
    import torch

    from impasto.models.inference import TorchBackend
    from impasto.models.store import StyleModel


class NetworkEngine:
    """Trained networks, each loaded once per model and runtime."""

    def __init__(self) -> None:
        self._backends: dict[tuple[Any, ...], TorchBackend | OnnxBackend] = {}
        self._models: dict[tuple[Any, ...], StyleModel] = {}
        self._records: dict[tuple[Any, ...], dict[str, Any]] = {}

    @staticmethod
    def _key(opts: NetworkOptions, runtime: Runtime) -> tuple[Any, ...]:
        model = opts.model
        return (str(model) if isinstance(model, str | os.PathLike) else id(model),
                *runtime.to_dict().values(), opts.compile)

    def backend(self, opts: NetworkOptions, runtime: Runtime) -> TorchBackend | OnnxBackend:
        """The network ``opts`` names, ready to run as ``runtime`` says."""
        key = self._key(opts, runtime)
        if key in self._backends:
            return self._backends[key]
        model = opts.model
        if runtime.backend == "onnx" and isinstance(model, str | os.PathLike):
            folder = read_model_folder(model)
            found = find_export(folder)
            if found is not None:
                self._backends[key] = found
                self._records[key] = {"name": folder.name, "arch": folder.arch,
                                      "sha256": folder.sha256,
                                      "style": folder.config.get("style")}
                return found
        loaded = self.model(opts, runtime)
        from impasto.models.inference import backend_for

        self._backends[key] = backend_for(
            loaded, runtime.backend, device=runtime.device, precision=runtime.precision,
            channels_last=runtime.channels_last, compile=opts.compile)
        return self._backends[key]

    def model(self, opts: NetworkOptions, runtime: Runtime) -> StyleModel:
        """The network ``opts`` names, loaded in PyTorch."""
        key = self._key(opts, runtime)
        if key not in self._models:
            from impasto.models.store import load_model

            model = opts.model
            loaded = (load_model(model, runtime.device) if isinstance(model, str | os.PathLike)
                      else model)
            self._models[key] = loaded
            self._records.setdefault(key, {"name": loaded.name, "arch": loaded.arch,
                                           "sha256": loaded.sha256,
                                           "style": loaded.config.get("style")})
        return self._models[key]

    def tensor(self, x: torch.Tensor, opts: NetworkOptions, runtime: Runtime) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> stylised, colour-finished, on the CPU (frames, webcam)."""
        styled = self.backend(opts, runtime)(x).cpu()
        return finish(styled, x.cpu(), strength=opts.strength,
                      preserve_color=opts.preserve_color)

    def run(self, request: Request, content: Picture | None, styles: list[Picture],
            runtime: Runtime, callback: CallbackLike | None,
            cancel: CancelToken | None) -> Rendered:
        opts: NetworkOptions = request.options
        assert content is not None
        x = fit_size(content.array, opts.size, request.max_pixels)
        backend = self.backend(opts, runtime)
        if isinstance(backend, OnnxBackend) and opts.preserve_color == "none":
            out: Any = backend.run(x)  # clamped to [0, 1]: at full strength it is finished
            if opts.strength < 1.0:
                out = finish(out, x, strength=opts.strength)
        else:
            import torch

            out = self.tensor(torch.from_numpy(x), opts, runtime)
        return Rendered(out, opts, self.parts(opts, runtime), "network")

    def parts(self, opts: NetworkOptions, runtime: Runtime) -> dict[str, Any]:
        """What the provenance record says of the network."""
        self.backend(opts, runtime)
        return {"model": dict(self._records[self._key(opts, runtime)])}
