"""The built-in style library (:mod:`impasto.styles.library`)."""

from impasto.styles.library import (
    BuiltinStyle,
    builtin_styles,
    find_style,
    get_style,
    network_model,
    resolve_style,
)

__all__ = ["BuiltinStyle", "builtin_styles", "find_style", "get_style", "network_model",
           "resolve_style"]
