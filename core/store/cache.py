"""Compute-or-fetch: the one way a stage uses the store.

The stages (``analyze``, ``render``, ``separate``) take an optional ``store``; with one they
call :func:`fetch_or_compute`, so "a second look is a lookup" is written once. This module
imports nothing from the project, so any stage can use it without an import cycle.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")

LOADED = "Loaded from the store"


def fetch_or_compute(lookup: Callable[[], T | None], compute: Callable[[], T], store_result: Callable[[T], object],
                     *, progress=None) -> T:
    """``lookup()`` when it finds the result (reported to ``progress`` as loaded), else
    ``compute()``, handed to ``store_result`` before it is returned."""
    found = lookup()
    if found is not None:
        if progress:
            progress(1.0, LOADED)
        return found
    result = compute()
    store_result(result)
    return result
