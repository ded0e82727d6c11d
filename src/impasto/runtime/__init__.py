"""Where and how work runs (the bottom layer, with image and events): device names,
arithmetic precision, memory budgets, and the one policy (:func:`choose_runtime`) that turns
the user's choices into a :class:`Runtime`."""

from impasto.runtime.device import DEVICE_CHOICES, DeviceName, describe, resolve_device
from impasto.runtime.policy import BACKENDS, Backend, Runtime, choose_runtime
from impasto.runtime.precision import autocast, resolve_precision

__all__ = ["BACKENDS", "DEVICE_CHOICES", "Backend", "DeviceName", "Runtime", "autocast",
           "choose_runtime", "describe", "resolve_device", "resolve_precision"]
