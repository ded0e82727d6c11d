"""The one way in: a :class:`Request` goes to :meth:`Pipeline.render`, a
:class:`~impasto.result.Result` comes out, for every method."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from impasto.errors import InvalidOption
from impasto.events import CallbackLike, CancelToken, Progress
from impasto.pipeline.inputs import Picture, fit_size, read_picture
from impasto.pipeline.network import NetworkEngine
from impasto.pipeline.rendered import Rendered
from impasto.pipeline.request import Request
from impasto.pipeline.sizes import check_paintable
from impasto.provenance import build_record
from impasto.result import Result
from impasto.runtime.device import is_cpu
from impasto.runtime.policy import Runtime, choose_runtime

if TYPE_CHECKING:
    import torch

    from impasto.metrics.scores import Scorer, Scores
    from impasto.pipeline.engines import ArbitraryEngine, OptimizeEngine

#: The runtime policy's name for the work each method does.
WORKLOADS = {"optimize": "optimize", "network": "network", "adain": "arbitrary",
             "wct": "arbitrary"}


class Pipeline:
    """Renders requests of every method on one device, keeping networks, decoders and style
    statistics loaded between calls.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a ``torch.device``, or
            ``"auto"`` (front ends resolve it and say what they chose).
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        is_cpu(device)  # a name that is no device, or a GPU that is not here: refused now
        self._device = device
        self.network = NetworkEngine()
        self._scorer: Scorer | None = None

    @functools.cached_property
    def device(self) -> torch.device:
        """The device the pipeline's PyTorch methods run on (``auto`` resolved when first
        asked: a network run in onnxruntime never asks)."""
        return choose_runtime("optimize", self._device).device

    @functools.cached_property
    def arbitrary(self) -> ArbitraryEngine:
        from impasto.pipeline.engines import ArbitraryEngine

        return ArbitraryEngine()

    @functools.cached_property
    def optimize(self) -> OptimizeEngine:
        from impasto.pipeline.engines import OptimizeEngine

        return OptimizeEngine(self.arbitrary)

    def engine(self, method: str) -> NetworkEngine | ArbitraryEngine | OptimizeEngine:
        """The engine of a method (made when first used)."""
        if method == "network":
            return self.network
        return self.optimize if method == "optimize" else self.arbitrary

    def describe(self, method: str, opts: Any) -> str:
        """Where a method runs with these options, in words: ``cpu (onnxruntime)``, or the
        device as :func:`impasto.runtime.describe` says it."""
        if self.runtime(method, opts).backend == "onnx":
            return "cpu (onnxruntime)"
        from impasto.runtime.device import describe

        return describe(self.device)

    def runtime(self, method: str, opts: Any) -> Runtime:
        """Where and how a method runs with these options (the one runtime policy
        decides)."""
        device = self.__dict__.get("device", self._device)  # resolved, if it has been
        return choose_runtime(WORKLOADS[method], device,
                              precision=opts.precision,
                              backend=getattr(opts, "backend", "torch"),
                              channels_last=getattr(opts, "channels_last", None) or None,
                              compile=getattr(opts, "compile", False))

    def render(self, request: Request | None = None, *, callback: CallbackLike | None = None,
               cancel: CancelToken | None = None, **fields: Any) -> Result:
        """Make the picture ``request`` asks for (or a request built from ``fields``).

        ``callback`` receives :class:`~impasto.events.Progress` events: ``start``, the
        optimiser's ``step`` events, ``done``. ``cancel`` stops the run at the next step
        (:class:`~impasto.errors.Cancelled`)."""
        if request is None:
            request = Request(**fields)
        elif fields:
            request = request.replace(**fields)
        started = time.perf_counter()
        runtime = self.runtime(request.method, request.options)
        content = (None if request.content is None
                   else read_picture(request.content, "content", request.max_pixels))
        styles = [read_picture(s, f"style {i}" if len(request.styles) > 1 else "style",
                               request.max_pixels)
                  for i, s in enumerate(request.styles, start=1)]
        for style, terms in zip(styles, request.style_terms, strict=False):
            style.record.update(terms)
        check_paintable(request, content, styles)
        if request.scores and not styles:
            raise InvalidOption("scores compare with a style picture: method network has none "
                                "(use impasto score CONTENT STYLE OUTPUT)")
        loaded = time.perf_counter()
        engine = self.engine(request.method)
        height, width = content.size if content is not None else (0, 0)
        _emit(callback, Progress("start", height=height, width=width, method=request.method))
        if cancel is not None:
            cancel.raise_if_cancelled()
        made = engine.run(request, content, styles, runtime, callback, cancel)
        rendered = time.perf_counter()
        scores = None
        if request.scores:
            scores = self.scorer().score(styles[0].tensor if content is None
                                         else content.tensor, styles[0].tensor, made.tensor)
        done = time.perf_counter()
        timings = {"load": loaded - started, "render": rendered - loaded,
                   "total": done - started}
        if scores is not None:
            timings["scores"] = done - rendered
        _emit(callback, Progress("done", height=int(made.pixels.shape[-2]),
                                 width=int(made.pixels.shape[-1]), method=request.method,
                                 elapsed=done - started, work_done=1.0))
        return _result(request, runtime, content, styles, made, timings, scores)

    def render_stack(self, requests: Sequence[Request]) -> list[Result]:
        """Requests of method network with the same options, whose pictures come out the same
        size, in one pass of the network: each result is the one :meth:`render` makes (the
        same pixels). A GPU's way to more pictures a second; on a CPU one at a time was as
        fast or faster (``benchmarks/batch.py --mode stacking``)."""
        if len(requests) == 1:
            return [self.render(requests[0])]
        first = requests[0]
        if any(r.method != "network" or r.options != first.options or r.scores
               for r in requests):
            raise InvalidOption("a stack is of method network requests with the same options "
                                "and no scores")
        started = time.perf_counter()
        opts = first.options
        runtime = self.runtime("network", opts)
        contents = [read_picture(r.content, "content", r.max_pixels) for r in requests]
        import torch

        pictures = []
        for request, content in zip(requests, contents, strict=True):
            check_paintable(request, content, [])
            pictures.append(torch.from_numpy(fit_size(content.array, opts.size,
                                                      request.max_pixels)))
        if len({tuple(x.shape) for x in pictures}) != 1:
            raise InvalidOption("the pictures of a stack must come out the same size")
        loaded = time.perf_counter()
        out = self.network.tensor(torch.cat(pictures), opts, runtime)
        rendered = time.perf_counter()
        parts = self.network.parts(opts, runtime)
        share = {"load": (loaded - started) / len(requests),
                 "render": (rendered - loaded) / len(requests)}
        share["total"] = share["load"] + share["render"]
        return [_result(request, runtime, content, [],
                        Rendered(out[i:i + 1], opts, parts, "network"), dict(share), None)
                for i, (request, content) in enumerate(zip(requests, contents, strict=True))]

    def scorer(self) -> Scorer:
        if self._scorer is None:
            from impasto.metrics.scores import Scorer

            self._scorer = Scorer(self.device)
        return self._scorer


def _result(request: Request, runtime: Runtime, content: Picture | None,
            styles: list[Picture], made: Rendered, timings: dict[str, float],
            scores: Scores | None) -> Result:
    """The result of a request and its provenance record, built in one place."""
    record = build_record(
        method=made.method, options=made.options.to_dict(), runtime=runtime.to_dict(),
        seconds=timings["load"] + timings["render"],
        content=None if content is None else content.record,
        styles=[s.record for s in styles],
        scores=None if scores is None else scores.to_dict(), **made.parts)
    return Result(pixels=made.pixels, method=request.method,
                  content_alpha=None if content is None else content.alpha,
                  options=made.options, runtime=runtime, record=record, timings=timings,
                  scores=scores)


def _emit(callback: CallbackLike | None, event: Progress) -> None:
    if callback is not None:
        callback(event)


@functools.lru_cache(maxsize=4)
def pipeline_for(device: str) -> Pipeline:
    """One pipeline per device and process, for :func:`render`."""
    return Pipeline(device)


def render(request: Request | None = None, *, device: str | torch.device = "cpu",
           callback: CallbackLike | None = None, cancel: CancelToken | None = None,
           **fields: Any) -> Result:
    """Make one picture: ``impasto.render(impasto.Request(content, styles, method=...))`` or
    ``impasto.render(content=..., styles=..., method=..., options={...})``."""
    return pipeline_for(str(device)).render(request, callback=callback, cancel=cancel,
                                            **fields)
