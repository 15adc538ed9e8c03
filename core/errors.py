"""One exception family for everything a user can cause.

Every message is written for a musician: it says what is wrong with *their* file or
setting and what to do about it, never a library traceback.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class of every error a user can cause (bad file, bad option, bad timeline)."""


class AudioError(StudioError):
    """The audio could not be read or is not usable (empty, damaged, not audio, too long)."""


class OptionError(StudioError, ValueError):
    """An option is out of its allowed range (window length, k range, ...)."""


class StoreError(StudioError):
    """The data directory could not be read or written."""


class SeparationError(StudioError):
    """Source separation could not run (model weights missing or damaged, unknown model)."""


def check_choice(name: str, choices, *, what: str) -> None:
    """Raise :class:`OptionError` unless ``name`` is one of ``choices`` (a registry's names).

    One message for every registry: "Unknown boundary method 'x'. Choose one of: a, b."
    """
    if name not in choices:
        raise OptionError(f"Unknown {what} '{name}'. Choose one of: {', '.join(choices)}.")
