"""``Span``: one span of music, the ONE shape for form segments, edited segments and timeline regions.

Tables (the per-window table, the segments and majority tables) stay DataFrames; a row that
crosses an API is a :class:`Span`. :class:`core.generate.timeline.Region` is a validated span.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

#: Every field of a span, in order.
SPAN_FIELDS = ("start_s", "end_s", "label", "descriptor", "tempo_bpm", "tonic", "band", "id")


@dataclass(frozen=True, kw_only=True)
class Span:
    """A span of music from ``start_s`` to ``end_s`` (seconds from the start of the track).

    Parameters
    ----------
    label : the section type the analysis gave it (``"A"``, ``"B"``...), "" when none
    descriptor : a catalog descriptor name (``genre_subgenre_mood``), "" when none is known
    tempo_bpm : its tempo, None when none is known
    tonic : its key's tonic as a sharp pitch name (``"D"``, ``"F#"``), None when none is known
    band : one of the descriptor's bands, or None to let the render's seed choose
    id : a name unique in its timeline ("" outside a timeline)
    """

    start_s: float
    end_s: float
    label: str = ""
    descriptor: str = ""
    tempo_bpm: float | None = None
    tonic: str | None = None
    band: str | None = None
    id: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self, names: tuple[str, ...] | None = None) -> dict:
        """The span's fields (``names``, default all of them) as a dict."""
        return {k: getattr(self, k) for k in (names or tuple(f.name for f in fields(self)))}
