"""Edited segments: the musician's corrections to the form the machine heard.

The machine's version of a track's form comes from its analysis and a model's predictions
(:func:`segments_from_form`, or :func:`machine_segments` for the whole path). A musician
then changes descriptors, tempi, tonics, bands and boundaries, splits a segment or merges two
neighbours; every version is checked by :func:`validate_segments`, which refuses overlaps,
gaps, too-short segments, unknown descriptors, foreign bands and tempi outside 20-200 BPM
with an :class:`EditError` that names the segment and the problem.

Edited segments serialise to a small JSON document (:func:`segments_to_json`), the format
the store's edit history (``Store.edits``) keeps and the Segments page downloads::

    {"format": "music-studio segments", "version": 1,
     "segments": [{"start_s": 0.0, "end_s": 22.5, "label": "A",
                   "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 96.0,
                   "tonic": "D", "band": null}, ...]}

``band`` null means "chosen by the render's seed". :func:`timeline_from_segments` turns
them into a multi-region :class:`~core.generate.timeline.Timeline` with every boundary on a beat,
through the same code as the loop's stitched timelines (``core.workflow.loop.multi_region_timeline``).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import replace

import pandas as pd

from core.bounds import MAX_DURATION_S, MIN_REGION_S, TEMPO_RANGE_BPM
from core.describe.describe import describe
from core.errors import StudioError
from core.generate.catalog import CatalogError, load_catalog
from core.generate.timeline import (
    MAX_NAME_CHARS,
    MAX_REGIONS,
    Timeline,
    TimelineError,
    cap_message,
    named,
    parse_tonic,
    read_json_text,
    shown,
)
from core.span import Span
from core.workflow.loop import beat_aligned_timeline, multi_region_timeline

FORMAT = "music-studio segments"
FORMAT_VERSION = 1
#: The fields of a segment, in table order (``duration_s`` and ``segment`` are derived columns).
FIELDS = ("start_s", "end_s", "label", "descriptor", "tempo_bpm", "tonic", "band")
TABLE_COLUMNS = ("segment", "start_s", "end_s", "duration_s", "label", "descriptor", "tempo_bpm", "tonic", "band")
_DERIVED = ("segment", "duration_s")
#: Span fields a segment does not use (a span's ``id`` names it in a timeline): read and ignored.
_UNUSED = ("id",)
#: Two times closer than this are the same boundary (seconds).
TIME_TOLERANCE_S = 1e-3
#: A segment may end this far past the end of the track (the track's length rounded).
END_TOLERANCE_S = 0.05
#: The most segments in a form: each becomes a region of a timeline (a 20-minute track of
#: one-second segments has 1,200). Text fields hold at most ``MAX_NAME_CHARS`` characters.
MAX_SEGMENTS = MAX_REGIONS


class EditError(StudioError):
    """An edit of the segments was refused: it would overlap, leave a gap, name an unknown
    descriptor or band, ... The message names the segment and the problem (at most
    ``core.generate.timeline.MAX_MESSAGE_CHARS`` characters)."""

    def __init__(self, message: str = ""):
        super().__init__(cap_message(message))


def check_segment_count(count: int) -> None:
    """Refuse a form of more than :data:`MAX_SEGMENTS` segments, before reading any of them."""
    if count > MAX_SEGMENTS:
        raise EditError(f"There are {count:,} segments; a form holds at most {MAX_SEGMENTS:,} (a segment lasts at "
                        f"least {MIN_REGION_S:g} s and a render at most {MAX_DURATION_S / 60:g} minutes).")


#: One segment of a track's form as the musician wants it rendered: a :class:`~core.span.Span`
#: with a catalog ``descriptor``, a ``tempo_bpm`` (20-200 BPM), a ``tonic`` (a sharp pitch name,
#: C when not given), a ``band`` of the descriptor (None: the render's seed chooses) and the
#: ``label`` (section type) the analysis gave it, for reference.
EditedSegment = Span


def _fmt(seconds: float) -> str:
    return f"{round(seconds, 3):g} s"


def _where(n: int, seg: EditedSegment | None = None) -> str:
    if seg is None:
        return f"Segment {n}"
    return f"Segment {n} ({_fmt(seg.start_s)} to {_fmt(seg.end_s)})"


# ------------------------------------------------------------------ reading rows
def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _number(value, n: int, what: str) -> float:
    if _blank(value):
        raise EditError(f"Segment {n} needs a {what}.")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise EditError(f"Segment {n}: the {what} must be a number (got {shown(value)}).") from None
    if not _is_number(value):
        raise EditError(f"Segment {n}: the {what} must be a number (got {shown(value)}).")
    return float(value)


def _is_number(value) -> bool:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # a whole number too large for a float
        return False


def _text(value, n: int, what: str) -> str:
    if _blank(value):
        return ""
    if not isinstance(value, str):
        raise EditError(f"Segment {n}: the {what} must be text (got {shown(value)}).")
    if len(value) > MAX_NAME_CHARS:
        raise EditError(f"Segment {n}: the {what} {shown(value)} is longer than {MAX_NAME_CHARS} characters.")
    return value.strip()


def segment_from_mapping(row, *, number: int) -> EditedSegment:
    """One :class:`EditedSegment` from a dict or table row (``number`` counts from 1, for messages).

    Types are checked here; whether the values make sense is :func:`validate_segments`' job.
    """
    if not isinstance(row, dict):
        raise EditError(f"Segment {number} must be an object with start_s, end_s, descriptor, tempo_bpm, "
                        f"tonic and band (got {shown(row)}).")
    unknown = sorted(k for k in row if k not in FIELDS and k not in _DERIVED and k not in _UNUSED)
    if unknown:
        raise EditError(f"Segment {number} has an unknown field {named(unknown[0])}; allowed fields are "
                        f"{', '.join(FIELDS)}.")
    for field in ("start_s", "end_s"):
        if field not in row:
            raise EditError(f"Segment {number} needs '{field}' (seconds from the start of the track).")
    band = _text(row.get("band"), number, "band")
    return EditedSegment(
        start_s=_number(row["start_s"], number, "start (start_s)"),
        end_s=_number(row["end_s"], number, "end (end_s)"),
        descriptor=_text(row.get("descriptor"), number, "descriptor"),
        tempo_bpm=_number(row.get("tempo_bpm"), number, "tempo (tempo_bpm)"),
        tonic=_text(row["tonic"], number, "tonic") if "tonic" in row else "C",
        band=band or None,
        label=_label(row.get("label"), number),
    )


def _label(value, n: int) -> str:
    """The section label: any value as text (a number from a CSV too), at most ``MAX_NAME_CHARS``."""
    return "" if _blank(value) else _text(value if isinstance(value, str) else str(value), n, "section label")


def segments_from_records(rows) -> list[EditedSegment]:
    """Segments from a list of dicts or a table (a DataFrame with the :data:`TABLE_COLUMNS`),
    e.g. what ``st.data_editor`` returns; validated with :func:`validate_segments`."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict(orient="records")
    if not isinstance(rows, (list, tuple)):
        raise EditError("The segments must be a list of segments.")
    check_segment_count(len(rows))
    return validate_segments([segment_from_mapping(r, number=i) for i, r in enumerate(rows, start=1)])


# ------------------------------------------------------------------ validation
def validate_segments(segments, *, duration_s: float | None = None, catalog=None) -> list[EditedSegment]:
    """Check a form and return it normalised (sharp tonics, tempi to 0.1 BPM, times to the ms).

    Refused, with an :class:`EditError` naming the segment: no segments; a start or end that
    is negative or not a number; a segment shorter than 1 s (zero or negative length
    included); a first segment that does not start at 0 s; a gap or an overlap between
    neighbours; an end past ``duration_s`` (the track's length, when given); an unknown
    descriptor; a band that is not one of the descriptor's; a tempo outside 20-200 BPM; a
    tonic that is not a pitch name.
    """
    catalog = catalog or load_catalog()
    segments = list(segments)
    check_segment_count(len(segments))
    if not segments:
        raise EditError("There are no segments: a form needs at least one segment.")
    out = []
    lo, hi = TEMPO_RANGE_BPM
    for n, seg in enumerate(segments, start=1):
        if not isinstance(seg, Span):
            raise EditError(f"Segment {n} is not a segment (got {type(seg).__name__}).")
        where = _where(n, seg)
        for what, value in (("start", seg.start_s), ("end", seg.end_s), ("tempo", seg.tempo_bpm)):
            if not _is_number(value):
                raise EditError(f"Segment {n}: the {what} must be a number (got {shown(value)}).")
        if seg.start_s < 0:
            raise EditError(f"{where} starts before the track: times cannot be negative.")
        if seg.end_s <= seg.start_s + TIME_TOLERANCE_S:
            problem = "has zero length" if abs(seg.end_s - seg.start_s) <= TIME_TOLERANCE_S else "ends before it starts"
            raise EditError(f"{where} {problem}: its end must come after its start.")
        if seg.duration_s < MIN_REGION_S - TIME_TOLERANCE_S:
            raise EditError(f"{where} lasts {_fmt(seg.duration_s)}; a segment must last at least "
                            f"{_fmt(MIN_REGION_S)}. Merge it with a neighbour instead.")
        if not seg.descriptor:
            raise EditError(f"{where} needs a descriptor: choose one from the catalog.")
        try:
            desc = catalog.get(seg.descriptor)
        except CatalogError as exc:
            raise EditError(f"{where}: {exc}") from None
        if not lo <= seg.tempo_bpm <= hi:
            raise EditError(f"{where}: the tempo must be between {lo:g} and {hi:g} BPM (got {seg.tempo_bpm:g}).")
        band = seg.band if seg.band else None
        if band is not None and band not in desc.bands:
            raise EditError(f"{where}: {named(band)} is not a band of {desc.name}; its bands are "
                            f"{', '.join(sorted(desc.bands))} (or leave it empty to let the seed choose).")
        if seg.tonic is None:  # not given: C, as for a segment read without a tonic
            seg = replace(seg, tonic="C")
        if not seg.tonic:
            raise EditError(f"{where} needs a tonic: choose a pitch name such as D or F#.")
        try:
            tonic = parse_tonic(seg.tonic, where=f"{where}: the tonic")
        except TimelineError as exc:
            raise EditError(str(exc)) from None
        out.append(replace(seg, start_s=round(float(seg.start_s), 3), end_s=round(float(seg.end_s), 3),
                           tempo_bpm=round(float(seg.tempo_bpm), 1), tonic=tonic, band=band,
                           label=str(seg.label or "")))
    if out[0].start_s > TIME_TOLERANCE_S:
        raise EditError(f"{_where(1, out[0])} leaves a gap: the first segment must start at 0 s.")
    for n, (a, b) in enumerate(zip(out, out[1:]), start=1):
        if b.start_s < a.end_s - TIME_TOLERANCE_S:
            raise EditError(f"{_where(n, a)} and {_where(n + 1, b).lower()} overlap: segment {n + 1} must start "
                            f"where segment {n} ends.")
        if b.start_s > a.end_s + TIME_TOLERANCE_S:
            raise EditError(f"There is a gap from {_fmt(a.end_s)} to {_fmt(b.start_s)} between segments {n} and "
                            f"{n + 1}: segment {n + 1} must start where segment {n} ends.")
    out = [replace(s, start_s=out[i - 1].end_s) if i else s for i, s in enumerate(out)]
    limit = MAX_DURATION_S if duration_s is None else min(MAX_DURATION_S, float(duration_s) + END_TOLERANCE_S)
    if out[-1].end_s > limit:
        what = (f"the end of the track ({_fmt(float(duration_s))})" if duration_s is not None
                else f"the longest render ({_fmt(MAX_DURATION_S)})")
        raise EditError(f"{_where(len(out), out[-1])} ends after {what}.")
    return out


# ------------------------------------------------------------------ edits
def split_segment(segments, *, index: int, at_s: float, catalog=None) -> list[EditedSegment]:
    """Split segment ``index`` (counting from 0) at ``at_s`` seconds into two with the same
    descriptor, tempo, tonic and band; each half must last at least 1 s."""
    segments = validate_segments(segments, catalog=catalog)
    if not 0 <= index < len(segments):
        raise EditError(f"There is no segment {index + 1}: the form has {len(segments)} segments.")
    seg = segments[index]
    if not _is_number(at_s):
        raise EditError(f"The split time must be a number of seconds (got {at_s!r}).")
    at_s = round(float(at_s), 3)
    if not seg.start_s + MIN_REGION_S - TIME_TOLERANCE_S <= at_s <= seg.end_s - MIN_REGION_S + TIME_TOLERANCE_S:
        raise EditError(f"Cannot split {_where(index + 1, seg).lower()} at {_fmt(at_s)}: the time must lie inside "
                        f"the segment, at least {_fmt(MIN_REGION_S)} from both of its ends.")
    halves = [replace(seg, end_s=at_s), replace(seg, start_s=at_s)]
    return validate_segments([*segments[:index], *halves, *segments[index + 1:]], catalog=catalog)


def merge_segments(segments, *, index: int, keep: str = "first", catalog=None) -> list[EditedSegment]:
    """Merge segment ``index`` (counting from 0) with the one after it; the merged segment
    keeps the descriptor, tempo, tonic and band of the ``keep`` one ("first" or "second")."""
    segments = validate_segments(segments, catalog=catalog)
    if keep not in ("first", "second"):
        raise EditError(f"Keep must be 'first' or 'second' (got {keep!r}).")
    if not 0 <= index < len(segments):
        raise EditError(f"There is no segment {index + 1}: the form has {len(segments)} segments.")
    if index == len(segments) - 1:
        raise EditError(f"Segment {index + 1} is the last one: there is no next segment to merge it with.")
    a, b = segments[index], segments[index + 1]
    merged = replace(a if keep == "first" else b, start_s=a.start_s, end_s=b.end_s)
    return validate_segments([*segments[:index], merged, *segments[index + 2:]], catalog=catalog)


#: The metrical levels a track's tempo can be read at, as factors of the analysis' reading: the
#: beat tracker may hear every other beat (half) or twice as many beats (double).
TEMPO_LEVELS = {"half": 0.5, "as analysed": 1.0, "double": 2.0}


def _analysed_tempo(seg: EditedSegment, machine) -> float:
    """The machine's tempo at the middle of ``seg`` (the analysed segment there)."""
    middle = (seg.start_s + seg.end_s) / 2
    return next((m.tempo_bpm for m in machine if m.start_s <= middle < m.end_s), machine[-1].tempo_bpm)


def _level_of(seg: EditedSegment, machine) -> float:
    """The metrical level (a factor of :data:`TEMPO_LEVELS`) nearest to ``seg``'s tempo over the analysed one."""
    ratio = math.log2(float(seg.tempo_bpm) / float(_analysed_tempo(seg, machine)))
    return min(TEMPO_LEVELS.values(), key=lambda f: abs(math.log2(f) - ratio))


def tempo_level(segments, machine) -> str | None:
    """The level the segments' tempi are read at ("half", "as analysed", "double"), relative to
    ``machine`` (the machine's version); None when the segments are not all at one level."""
    found = {_level_of(s, machine) for s in segments}
    return next((name for name, f in TEMPO_LEVELS.items() if found == {f}), None)


def at_tempo_level(segments, machine, *, level: str, catalog=None) -> tuple[list[EditedSegment], str]:
    """Every segment's tempo read at ``level`` of :data:`TEMPO_LEVELS` (half, as analysed or
    double the machine's reading at that segment), a tempo the musician changed by hand moved by
    the same factor; and the note for the edit history ("Tempo doubled").

    Refused with an :class:`EditError` naming the segment when a tempo would leave 20-200 BPM:
    nothing is changed, a tempo is never clamped.
    """
    if level not in TEMPO_LEVELS:
        raise EditError(f"The tempo can be read at {', '.join(TEMPO_LEVELS)} (got {shown(level)}).")
    segments, machine, target = list(segments), list(machine), TEMPO_LEVELS[level]
    if not machine:
        raise EditError("There is no analysed version of this track to read the tempo against.")
    lo, hi = TEMPO_RANGE_BPM
    out, factors = [], set()
    for n, seg in enumerate(segments, start=1):
        analysed, now = _analysed_tempo(seg, machine), _level_of(seg, machine)
        by_hand = abs(seg.tempo_bpm - analysed * now) > 0.1  # not the analysed tempo at a level: moved by hand
        tempo = seg.tempo_bpm * target / now if by_hand else analysed * target
        if not lo <= round(tempo, 1) <= hi:
            verb = {0.5: "Halving", 2.0: "Doubling"}.get(target / now, f"Reading at {level}")
            raise EditError(f"{verb} the tempo would take {_where(n, seg).lower()} to {round(tempo, 1):g} BPM, outside the "
                            f"{lo:g}-{hi:g} BPM the studio plays: nothing was changed. Change that segment's tempo in the table first.")
        out.append(replace(seg, tempo_bpm=tempo))
        factors.add(target / now)
    note = {frozenset({2.0}): "Tempo doubled", frozenset({0.5}): "Tempo halved"}.get(
        frozenset(factors), f"Tempo read {'as analysed' if target == 1 else 'at ' + level}")
    return validate_segments(out, catalog=catalog), note


def follow_boundaries(before, after) -> list[EditedSegment]:
    """``after`` with shared boundaries kept shared: where a table edit moved only one side of a
    boundary (segment i's end, or segment i+1's start), the other side moves with it.

    Both lists must have the same length (a table edit, not a split or merge); otherwise
    ``after`` is returned unchanged.
    """
    before, after = list(before), list(after)
    if len(before) != len(after):
        return after
    for i in range(len(after) - 1):
        joined = abs(before[i].end_s - before[i + 1].start_s) <= TIME_TOLERANCE_S
        end_moved = not _same(after[i].end_s, before[i].end_s)
        start_moved = not _same(after[i + 1].start_s, before[i + 1].start_s)
        if joined and end_moved and not start_moved:
            after[i + 1] = replace(after[i + 1], start_s=after[i].end_s)
        elif joined and start_moved and not end_moved:
            after[i] = replace(after[i], end_s=after[i + 1].start_s)
    return after


def reconcile_edit(before, after, *, catalog=None) -> list[EditedSegment]:
    """What a table edit meant: ``after`` with moved boundaries followed
    (:func:`follow_boundaries`) and, where a segment's descriptor changed but its band did
    not, a band the new descriptor lacks cleared (the seed chooses one of the new bands)."""
    catalog = catalog or load_catalog()
    before, after = list(before), follow_boundaries(before, after)
    if len(before) != len(after):
        return after
    for i, (a, b) in enumerate(zip(before, after)):
        if a.descriptor != b.descriptor and a.band == b.band and b.band and b.descriptor in catalog.descriptors:
            if b.band not in catalog.get(b.descriptor).bands:
                after[i] = replace(b, band=None)
    return after


def _same(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= TIME_TOLERANCE_S
    except (TypeError, ValueError):
        return a == b


def describe_edit(before, after) -> str:
    """A short note of what changed between two versions (for the edit history)."""
    before, after = list(before), list(after)
    if len(after) == len(before) + 1:
        return f"Split into {len(after)} segments"
    if len(after) == len(before) - 1:
        return f"Merged into {len(after)} segments"
    if len(after) != len(before):
        return f"{len(after)} segments"
    changes = []
    for n, (a, b) in enumerate(zip(before, after), start=1):
        for field in FIELDS:
            old, new = getattr(a, field), getattr(b, field)
            if (field.endswith("_s") and not _same(old, new)) or (not field.endswith("_s") and old != new):
                show = {"start_s": "start", "end_s": "end", "tempo_bpm": "tempo"}.get(field, field)
                changes.append(f"segment {n} {show} {_show(old)} -> {_show(new)}")
    if not changes:
        return "No change"
    text = "; ".join(changes[:3]) + (f" (+{len(changes) - 3} more)" if len(changes) > 3 else "")
    return text[0].upper() + text[1:]


def _show(value) -> str:
    if value is None or value == "":
        return "(by seed)"
    return f"{value:g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------ formats
def segments_to_json(segments, *, indent: int | None = 2) -> str:
    """The segments JSON document (see the module docstring)."""
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION,
                       "segments": [s.to_dict(FIELDS) for s in segments]}, indent=indent)


def segments_from_json(text, *, duration_s: float | None = None, catalog=None) -> list[EditedSegment]:
    """Parse and validate a segments JSON document (or a bare list of segments).

    Malformed JSON, a wrong shape or an invalid form raise :class:`EditError` with a message
    that says where (``line 3, column 7``, ``Segment 2 ...``).
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise EditError(f"Segments JSON is text or bytes, not {type(text).__name__}.")

    data = read_json_text(text, what="The segments file", shape="a list of segments", error=EditError,
                          check_counts=_count_segments)
    if isinstance(data, dict):
        if "segments" not in data:
            hint = " (this looks like a render timeline: upload it on the Render page)" if "timeline" in data else ""
            raise EditError(f"The segments file needs a 'segments' list{hint}.")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise EditError(f"The segments file is version {shown(version)}; this studio reads version "
                            f"{FORMAT_VERSION}.")
        data = data["segments"]
    if not isinstance(data, list):
        raise EditError("The segments file must hold a list of segments, e.g. "
                        '{"segments": [{"start_s": 0, "end_s": 20, "descriptor": "...", "tempo_bpm": 96, '
                        '"tonic": "D", "band": null}]}.')
    segments = [segment_from_mapping(row, number=i) for i, row in enumerate(data, start=1)]
    return validate_segments(segments, duration_s=duration_s, catalog=catalog)


def _count_segments(data) -> None:
    rows = data.get("segments") if isinstance(data, dict) else data
    if isinstance(rows, list):
        check_segment_count(len(rows))


def segments_table(segments) -> pd.DataFrame:
    """The segments as a table (:data:`TABLE_COLUMNS`): for the editor and the CSV download.
    An empty band (the seed chooses) is an empty string."""
    rows = [{"segment": n, **s.to_dict(FIELDS), "duration_s": round(s.duration_s, 3), "band": s.band or ""}
            for n, s in enumerate(segments, 1)]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return table.astype({"segment": int, "start_s": float, "end_s": float, "duration_s": float, "tempo_bpm": float})


def segments_to_csv(segments) -> str:
    return segments_table(segments).to_csv(index=False)


# ------------------------------------------------------------------ machine and timeline
def segments_from_form(analysis, form: list[Span], *, fallback_descriptor: str, catalog=None) -> list[EditedSegment]:
    """The machine's version of the form: one segment per span of ``form`` (``Description.form``:
    the majority table's rows) at the analysed boundaries, with that segment's descriptor, tempo
    and tonic as ``core.workflow.loop.multi_region_timeline`` reads them (an unknown descriptor
    becomes ``fallback_descriptor``, a missing tempo the descriptor's, a missing tonic the
    track's). The last segment ends at the end of the track.
    """
    catalog = catalog or load_catalog()
    if len(form) == 0:
        raise EditError("The analysis found no segments in this track.")
    try:
        timeline = multi_region_timeline(analysis, form, fallback_descriptor=fallback_descriptor, catalog=catalog)
    except TimelineError as exc:
        raise EditError(f"The machine's version could not be built: {exc}") from None
    out, start = [], 0.0
    for i, (seg, region) in enumerate(zip(form, timeline.regions)):
        end = float(analysis.duration_s) if i == len(form) - 1 else float(seg.end_s)
        out.append(EditedSegment(start_s=round(start, 3), end_s=round(end, 3), descriptor=region.descriptor,
                                 tempo_bpm=region.tempo_bpm, tonic=region.tonic, label=seg.label))
        start = round(end, 3)
    return validate_segments(out, catalog=catalog)


def machine_segments(track, *, store, model, options=None, remove_vocals: str = "auto", catalog=None,
                     progress=None) -> list[EditedSegment]:
    """The machine's version of ``track``'s form from its description (``core.describe.describe``:
    the stored analysis, the model's predictions with the vocals removed first when the track has
    a voice, and the majority of each segment's windows).

    With ``remove_vocals="auto"``, a separation model that cannot run (weights not installed)
    means classifying with the vocals in, as for an instrumental, rather than no version.
    """
    catalog = catalog or load_catalog()
    description = describe(track, model=model, options=options, remove_vocals=remove_vocals, store=store,
                           progress=progress)
    return segments_from_form(description.analysis, description.form,
                              fallback_descriptor=description.fallback_descriptor or catalog.names()[0],
                              catalog=catalog)


def timeline_from_segments(segments, *, catalog=None) -> Timeline:
    """A multi-region timeline: one region per segment with its descriptor, tempo, tonic and
    band, each a whole number of its own beats long (as close as possible to the segment), so
    every boundary falls on a beat. The timeline ends with the last region."""
    catalog = catalog or load_catalog()
    segments = validate_segments(segments, catalog=catalog)
    try:
        return beat_aligned_timeline(segments, duration_s=segments[-1].end_s, catalog=catalog)
    except TimelineError as exc:
        raise EditError(f"These segments cannot be rendered: {exc}") from None


# ------------------------------------------------------------------ the stored history
def edits_key() -> str:
    """The key of a track's edit history in the store (``Store.edits(track_hash, key)``).

    Fixed, not derived from the analysis version: a new analysis version must never hide a
    user's edits.
    """
    return "segments"


def current_segments(history, machine, *, duration_s: float | None = None, catalog=None) -> list[EditedSegment]:
    """The segments at the history's cursor, or ``machine`` (the machine's version) when
    there is no edit (or everything was undone or reset)."""
    text = history.current()
    if text is None:
        return list(machine)
    return segments_from_json(text, duration_s=duration_s, catalog=catalog)


def save_edit(history, before, after, *, note: str = "", duration_s: float | None = None,
              catalog=None) -> list[EditedSegment] | None:
    """Validate ``after`` and push it onto the history when it differs from ``before``.

    Returns the saved segments (normalised), or None when nothing changed. An invalid
    version raises :class:`EditError` and nothing is written.
    """
    after = validate_segments(after, duration_s=duration_s, catalog=catalog)
    before = list(before)
    if after == before:
        return None
    history.push(segments_to_json(after, indent=None), note=note or describe_edit(before, after))
    return after
