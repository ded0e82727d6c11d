"""THE WAY IN: one :class:`Request` (content, styles, method, the method's options), one
:class:`~impasto.result.Result` (picture, provenance record, timings, scores), for every
method: ``optimize``, ``network``, ``adain``, ``wct``. Every front end (the CLI, the Python
conveniences, later video, the service and batch) maps its inputs onto a Request and calls
:func:`render` or a :class:`Pipeline`."""

from impasto.pipeline.core import Pipeline, render
from impasto.pipeline.request import METHODS, Request, check_method, options_for

__all__ = ["METHODS", "Pipeline", "Request", "check_method", "options_for", "render"]
