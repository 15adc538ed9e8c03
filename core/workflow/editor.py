"""The segment editor's logic (the Segments page): the table the musician edits and the
segments it stands for, the history's state in words, and the labels of the editor's choices.

Pure functions over :mod:`core.workflow.edits` (no Streamlit): the page reads widgets, calls
these, and draws what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.span import Span
from core.workflow.edits import (
    EditError,
    check_segment_count,
    current_segments,
    reconcile_edit,
    segment_from_mapping,
    segments_table,
    segments_to_csv,
    segments_to_json,
)

#: The band cell of a segment whose band the render's seed chooses.
BY_SEED = "(by seed)"


@dataclass(frozen=True)
class EditorState:
    """What the editor shows: the segments at the history's cursor and where that is."""

    segments: list[Span]
    cursor: int  # 0: the machine's version
    count: int  # edits in the history (some may be undone)
    status: str  # one markdown line: "**Edit 2 of 3**: ..." or "**The machine's version** ..."
    error: str | None = None  # the saved edit could not be read back: the machine's version is shown


def open_edits(history, machine, *, duration_s: float, catalog) -> EditorState:
    """The editor's state for ``history`` (a ``core.store.store.EditHistory``) over the
    machine's version ``machine``. A saved edit that no longer reads back gives the machine's
    version and an ``error`` that says so."""
    error = None
    try:
        segments = current_segments(history, machine, duration_s=duration_s, catalog=catalog)
    except EditError as exc:
        error = (f"The saved edit could not be read back ({exc}); showing the machine's version. Undo, redo or "
                 "reset to choose another version.")
        segments = list(machine)
    cursor, count = history.cursor(), history.count()
    if cursor == 0:
        redo = f" · {count} edit{'s' if count > 1 else ''} to redo" if count else ""
        status = f"**The machine's version** (from the analysis){redo}"
    else:
        status = f"**Edit {cursor} of {count}**: {history.notes()[cursor - 1]}"
    return EditorState(segments=segments, cursor=cursor, count=count, status=status, error=error)


def segments_frame(segments, *, by: str = "descriptor") -> pd.DataFrame:
    """``start_s``, ``end_s`` and ``label`` per segment, as the players draw regions: labelled
    by descriptor (``by="descriptor"``) or by section type, else descriptor (``by="section"``)."""
    if by not in ("descriptor", "section"):
        raise EditError(f"Segments are labelled by 'descriptor' or 'section' (got {by!r}).")
    labels = [s.descriptor if by == "descriptor" else (s.label or s.descriptor) for s in segments]
    return pd.DataFrame({"start_s": [s.start_s for s in segments], "end_s": [s.end_s for s in segments],
                         "label": labels})


def editor_table(segments) -> pd.DataFrame:
    """The table the editor shows: :func:`core.workflow.edits.segments_table` with the
    seed-chosen band shown as :data:`BY_SEED`."""
    table = segments_table(segments)
    table["band"] = table["band"].replace("", BY_SEED)
    return table


def segments_from_table(rows, before, *, catalog) -> list[Span]:
    """The segments an edited table stands for (``rows``: its records), with shared boundaries
    moved together (:func:`core.workflow.edits.reconcile_edit`). Raises EditError naming the
    row and the problem; more than :data:`core.workflow.edits.MAX_SEGMENTS` rows are refused first."""
    rows = list(rows)
    check_segment_count(len(rows))
    rows = [{**r, "band": None if r.get("band") == BY_SEED else r.get("band")} if isinstance(r, dict) else r
            for r in rows]
    return reconcile_edit(before, [segment_from_mapping(r, number=i) for i, r in enumerate(rows, 1)],
                          catalog=catalog)


def band_options(catalog) -> list[str]:
    """The band column's choices: :data:`BY_SEED`, then every band of the catalog."""
    return [BY_SEED, *sorted({b for d in catalog.descriptors.values() for b in d.bands})]


def bands_caption(segments, *, catalog) -> str:
    """The bands each descriptor in use allows, in one line."""
    in_use = list(dict.fromkeys(s.descriptor for s in segments))
    return ("Bands: " + " · ".join(f"*{name}*: {', '.join(sorted(catalog.get(name).bands))}" for name in in_use)
            + f". With {BY_SEED}, the render's seed chooses the band.")


def segment_label(segments, index: int) -> str:
    """"2: 10.00-20.00 s (descriptor)" for the split picker."""
    s = segments[index]
    return f"{index + 1}: {s.start_s:.2f}-{s.end_s:.2f} s ({s.descriptor})"


def pair_label(segments, index: int) -> str:
    """"2 + 3 (10.00-30.00 s)" for the merge picker."""
    return f"{index + 1} + {index + 2} ({segments[index].start_s:.2f}-{segments[index + 1].end_s:.2f} s)"


def edit_render_label(cursor: int, seed: int) -> str:
    """The label of a render of the edited form, as the Listen page lists it."""
    return f"edit {cursor} · seed {seed}" if cursor else f"machine's version · seed {seed}"


def segment_downloads(segments, *, name: str) -> list[tuple[str, str, str, str]]:
    """(label, text, file name, mime type) of the segments' JSON and CSV downloads."""
    return [("Segments JSON", segments_to_json(segments), f"{name}_segments.json", "application/json"),
            ("Segments CSV", segments_to_csv(segments), f"{name}_segments.csv", "text/csv")]
