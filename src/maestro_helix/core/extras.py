"""Optional dependencies: import one, or say which extra brings it."""

from __future__ import annotations

import importlib
from types import ModuleType

from maestro_helix.core.errors import MissingExtra

__all__ = ["require"]


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``; raise :class:`MissingExtra` naming ``extra`` when it is not installed.

    Example: ``require("fastapi", extra="server", feature="maestro serve")``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = e.name or module
        if missing != module and not module.startswith(missing + "."):
            raise  # the module is there but one of *its* imports is broken: not ours to hide
        raise MissingExtra(feature, extra, module) from None
