"""The render timeline: regions with start, end, descriptor, tempo, tonic and band.

It serialises to the JSON format of the Amper render timeline (spans, actions,
``add_region`` with descriptor, key/tonic and ``cut_at``, tempo, instrument_groups),
described in docs/timeline.md and assets/timeline.schema.json. Every way of building a
:class:`Timeline` validates it, and every problem raises :class:`TimelineError` with a
message that names the place in the file (``spans[1].tempo must be a number``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.analysis.key import PITCH_CLASSES
from core.bounds import MAX_DURATION_S, MIN_REGION_S, TEMPO_RANGE_BPM
from core.errors import StudioError
from core.generate.catalog import CatalogError, load_catalog
from core.paths import ASSETS
from core.span import Span

SCHEMA_PATH = ASSETS / "timeline.schema.json"
_EPS = 1e-6
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "\u266f": 1, "b": -1, "\u266d": -1}
_REGION_KEYS = ("id", "start_s", "end_s", "descriptor", "tempo_bpm", "tonic", "band")


class TimelineError(StudioError):
    """The timeline is not valid: bad JSON, a missing field, overlapping regions, ..."""


def read_json_text(text: str | bytes, *, what: str, shape: str, error: type[StudioError]):
    """Strict JSON from user text or bytes (UTF-8, a BOM allowed; NaN and Infinity refused).

    Every failure is ``error`` with a message that starts with ``what`` ("The timeline") and
    says where: line and column, not UTF-8, or nested too deeply to be ``shape``.
    """
    def no_constant(name):
        raise error(f"{what} contains {name}, which is not a number; use plain numbers.")

    try:
        text = text.decode("utf-8-sig") if isinstance(text, (bytes, bytearray)) else text.lstrip("\ufeff")
        return json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text; save it as a UTF-8 JSON file.") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply to be {shape}.") from None


def parse_tonic(name, *, where: str = "tonic") -> str:
    """The sharp pitch name of ``name``: ``"Bb"`` -> ``"A#"``, ``"e#"`` -> ``"F"``, ``"Cb"`` -> ``"B"``."""
    text = name if isinstance(name, str) else ""
    letter, accidental = text[:1].upper(), text[1:]
    if letter not in _NATURALS or accidental not in _ACCIDENTALS:
        raise TimelineError(f"{where} {json.dumps(name)} is not a pitch name: use a letter A-G with an "
                            "optional # or b, e.g. C, F#, Bb.")
    return PITCH_CLASSES[(_NATURALS[letter] + _ACCIDENTALS[accidental]) % 12]


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TimelineError(f"{what} must be a number (got {value!r}).")
    return float(value)


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


class Region(Span):
    """One region: a :class:`~core.span.Span` with a descriptor played from ``start_s`` to
    ``end_s`` (seconds) at ``tempo_bpm``, checked when made.

    ``Region(id, start_s, end_s, descriptor, tempo_bpm, tonic="C", band=None)``. ``tonic`` is
    stored as a sharp pitch name; ``band`` is a band of the descriptor, or None to let the
    renderer pick one from the seed.
    """

    def __init__(self, id, start_s, end_s, descriptor, tempo_bpm, tonic="C", band=None, *, label: str = ""):
        for field, value in (("id", id), ("start_s", start_s), ("end_s", end_s), ("descriptor", descriptor),
                             ("tempo_bpm", tempo_bpm), ("tonic", tonic), ("band", band), ("label", label)):
            object.__setattr__(self, field, value)
        self._check()

    def _check(self) -> None:
        rid = str(self.id) if isinstance(self.id, (int, str)) and not isinstance(self.id, bool) else ""
        if not rid.strip():
            raise TimelineError(f"A region id must be a non-empty name or number (got {self.id!r}).")
        name = f"Region '{rid}'"
        start, end = _number(self.start_s, f"{name}: the start"), _number(self.end_s, f"{name}: the end")
        tempo = _number(self.tempo_bpm, f"{name}: the tempo")
        if start < 0:
            raise TimelineError(f"{name} starts at {_fmt(start)}; times cannot be negative.")
        if end - start < MIN_REGION_S - _EPS:
            raise TimelineError(f"{name} lasts {_fmt(end - start)} ({_fmt(start)} to {_fmt(end)}); "
                                f"a region must last at least {_fmt(MIN_REGION_S)}.")
        lo, hi = TEMPO_RANGE_BPM
        if not lo <= tempo <= hi:
            raise TimelineError(f"{name}: the tempo must be between {lo:g} and {hi:g} BPM (got {tempo:g}).")
        if not isinstance(self.descriptor, str) or not self.descriptor:
            raise TimelineError(f"{name} needs a descriptor name (got {self.descriptor!r}).")
        if self.band is not None and (not isinstance(self.band, str) or not self.band):
            raise TimelineError(f"{name}: the band must be a band name or None (got {self.band!r}).")
        for field, value in (("id", rid), ("start_s", start), ("end_s", end), ("tempo_bpm", tempo),
                             ("tonic", parse_tonic(self.tonic, where=f"{name}: the tonic")),
                             ("label", str(self.label or ""))):
            object.__setattr__(self, field, value)


@dataclass(frozen=True)
class Timeline:
    """Regions in time order (no overlaps, unique ids) in a piece of ``duration_s`` seconds."""

    regions: tuple[Region, ...]
    duration_s: float

    def __post_init__(self):
        duration = _number(self.duration_s, "The timeline length")
        if duration > MAX_DURATION_S:
            raise TimelineError(f"The timeline lasts {_fmt(duration)} ({duration / 60:.1f} min); the longest "
                                f"allowed is {_fmt(MAX_DURATION_S)} ({MAX_DURATION_S / 60:g} minutes).")
        regions = tuple(self.regions)
        if not all(isinstance(r, Region) for r in regions):
            raise TimelineError("A timeline holds Region objects only.")
        if not regions:
            raise TimelineError("The timeline has no regions: add at least one metered span with an "
                                "add_region action.")
        regions = tuple(sorted(regions, key=lambda r: r.start_s))
        seen = set()
        for r in regions:
            if r.id in seen:
                raise TimelineError(f"Region id '{r.id}' is used twice; every region needs its own id.")
            seen.add(r.id)
        for a, b in zip(regions, regions[1:]):
            if b.start_s < a.end_s - _EPS:
                raise TimelineError(f"Regions '{a.id}' ({_fmt(a.start_s)} to {_fmt(a.end_s)}) and '{b.id}' "
                                    f"({_fmt(b.start_s)} to {_fmt(b.end_s)}) overlap; a region must end "
                                    "before the next one starts.")
        if regions[-1].end_s > duration + _EPS:
            raise TimelineError(f"Region '{regions[-1].id}' ends at {_fmt(regions[-1].end_s)}, after the end "
                                f"of the timeline ({_fmt(duration)}).")
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "duration_s", duration)

    def check_descriptors(self, *, catalog=None) -> "Timeline":
        """Check every descriptor and band against the catalog; returns the timeline itself."""
        catalog = catalog or load_catalog()
        for r in self.regions:
            try:
                desc = catalog.get(r.descriptor)
            except CatalogError as exc:
                raise TimelineError(f"Region '{r.id}': {exc}") from None
            if r.band is not None and r.band not in desc.bands:
                raise TimelineError(f"Region '{r.id}': '{r.band}' is not a band of {r.descriptor}; "
                                    f"its bands are {', '.join(desc.bands)}.")
        return self

    def to_dict(self) -> dict:
        """The JSON format: one metered span per region; gaps become unmetered spans."""
        spans, now = [], 0.0
        for n, r in enumerate(self.regions, start=1):
            if r.start_s > now + _EPS:
                spans.append({"time": now, "type": "unmetered"})
            span = {"id": n, "time": r.start_s, "type": "metered", "tempo": r.tempo_bpm}
            if r.band is not None:
                span["instrument_groups"] = [{"instrument_group": r.band}]
            span["actions"] = [{"time": r.start_s, "add_region": {
                "id": r.id, "descriptor": r.descriptor, "key": {"tonic": r.tonic}, "cut_at": r.end_s}}]
            spans.append(span)
            now = r.end_s
        if self.duration_s > now + _EPS:
            spans.append({"time": now, "type": "unmetered"})
        spans.append({"time": self.duration_s, "type": "unmetered"})
        return {"timeline": {"spans": spans}}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data, *, catalog=None, check_catalog: bool = True) -> "Timeline":
        """Read and fully validate the JSON format (already parsed).

        ``check_catalog=False`` skips the descriptor/band check (for reading back stored
        renders whose descriptors a later catalog may have renamed)."""
        _check_schema(data)
        spans = data["timeline"]["spans"]
        for i in range(1, len(spans)):
            if spans[i]["time"] <= spans[i - 1]["time"]:
                raise TimelineError(f"spans[{i}].time ({_fmt(spans[i]['time'])}) must come after "
                                    f"spans[{i - 1}].time ({_fmt(spans[i - 1]['time'])}): list spans in time "
                                    "order, each starting later than the one before.")
        if spans[-1]["type"] != "unmetered":
            raise TimelineError(f"The timeline must end with an unmetered span that marks its end, e.g. "
                                f'{{"time": END, "type": "unmetered"}} after spans[{len(spans) - 1}].')
        regions = []
        for i, span in enumerate(spans[:-1]):
            if span["type"] == "metered":
                regions += _span_regions(span, i, end_s=spans[i + 1]["time"])
        timeline = cls(tuple(regions), spans[-1]["time"])
        return timeline.check_descriptors(catalog=catalog) if check_catalog else timeline

    @classmethod
    def from_json(cls, text: str | bytes, *, catalog=None, check_catalog: bool = True) -> "Timeline":
        """Parse and fully validate timeline JSON text."""
        if not isinstance(text, (str, bytes, bytearray)):
            raise TimelineError(f"A timeline is JSON text or bytes, not {type(text).__name__}.")
        data = read_json_text(text, what="The timeline", shape="a timeline", error=TimelineError)
        return cls.from_dict(data, catalog=catalog, check_catalog=check_catalog)


def _span_regions(span: dict, i: int, *, end_s: float) -> list[Region]:
    start_s, where = span["time"], f"spans[{i}]"
    groups = span.get("instrument_groups")
    band = groups[0]["instrument_group"] if groups else None
    out = []
    for j, action in enumerate(span["actions"]):
        at, add = action["time"], action["add_region"]
        here = f"{where}.actions[{j}]"
        if not start_s - _EPS <= at < end_s - _EPS:
            raise TimelineError(f"{here}.time ({_fmt(at)}) must lie inside its span "
                                f"({_fmt(start_s)} to {_fmt(end_s)}).")
        cut = add.get("cut_at", end_s)
        if cut <= at + _EPS:
            raise TimelineError(f"{here}.add_region.cut_at ({_fmt(cut)}) must be after the region's start "
                                f"({_fmt(at)}).")
        if cut > end_s + _EPS:
            raise TimelineError(f"{here}.add_region.cut_at ({_fmt(cut)}) is beyond the end of its span "
                                f"({_fmt(end_s)}); end the region at or before the next span.")
        tonic = parse_tonic(add.get("key", {}).get("tonic", "C"), where=f"{here}.add_region.key.tonic")
        out.append(Region(str(add["id"]), at, cut, add["descriptor"], span["tempo"], tonic, band))
    return out


# -- structural validation with the JSON schema, in plain words ---------------------------------

_TYPES = {"number": "a number", "integer": "a whole number", "string": "text in quotes",
          "object": "an object { ... }", "array": "a list [ ... ]"}
_UNITS = {"tempo": " BPM", "time": " seconds", "cut_at": " seconds"}
_HINTS = {"timeline": "the object that holds the spans",
          "spans": "the spans: metered spans with regions, then the unmetered end span",
          "time": "seconds from the start of the timeline", "type": '"metered" or "unmetered"',
          "tempo": "a metered span plays at a tempo in BPM, 20-200",
          "actions": "a metered span starts its region with an add_region action",
          "add_region": "the region this action starts", "id": "a name or number, unique in the timeline",
          "descriptor": "a catalog descriptor such as cinematic_percussion_ominous",
          "tonic": "a pitch name such as D or Bb", "instrument_group": "a band name of the descriptor"}


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def _where(path) -> str:
    path = list(path)
    if not path:
        return "The document"
    if path[0] == "timeline" and len(path) > 1:
        path = path[1:]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _plain(err) -> str:
    where, kind, value, schema = _where(err.absolute_path), err.validator, err.validator_value, err.schema
    field = err.absolute_path[-1] if err.absolute_path else ""
    got = json.dumps(err.instance)
    if kind == "required":
        missing = next(k for k in value if k not in err.instance)
        return f"{where} needs '{missing}' ({_HINTS.get(missing, 'required')})."
    if kind == "type":
        kinds = [value] if isinstance(value, str) else value
        return f"{where} must be {' or '.join(_TYPES.get(k, k) for k in kinds)} (got {got})."
    if kind in ("enum", "const"):
        return f"{where} must be {' or '.join(json.dumps(v) for v in value)} (got {got})."
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        unit = _UNITS.get(field, "")
        lo, hi, above = schema.get("minimum"), schema.get("maximum"), schema.get("exclusiveMinimum")
        if lo is not None and hi is not None:
            return f"{where} must be between {lo:g} and {hi:g}{unit} (got {got})."
        if above is not None:
            return f"{where} must be more than {above:g}{unit} (got {got})."
        return f"{where} cannot be negative (got {got})." if lo == 0 else f"{where} must be at least {lo:g}{unit}."
    if kind in ("minItems", "minLength"):
        return f"{where} must not be empty" + (f" ({_HINTS[field]})." if field in _HINTS else ".")
    if kind == "maxItems":
        return f"{where} must name exactly one band (got {len(err.instance)})."
    if kind == "additionalProperties":
        extra = sorted(k for k in err.instance if k not in schema.get("properties", {}))
        return (f"{where} has an unknown field '{extra[0]}'; allowed fields are "
                f"{', '.join(schema.get('properties', {}))}.")
    if kind == "pattern":
        return f"{where} {got} is not {_HINTS.get(field, 'in the expected format')}."
    if kind == "not":
        return (f"{where} is unmetered (silence, or the end of the timeline), so it cannot have a tempo, "
                "instrument_groups or actions.")
    return f"{where}: {err.message}."


def _check_schema(data) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: tuple(e.absolute_path))
    if errors:
        raise TimelineError(_plain(errors[0]))


# -- building timelines ---------------------------------------------------------------------------

def load_timeline(path, *, catalog=None) -> Timeline:
    """Read and validate a timeline JSON file."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise TimelineError(f"The timeline file {path} could not be read: {exc.strerror or exc}.") from None
    return Timeline.from_json(text, catalog=catalog)


def single_region(descriptor: str, *, duration_s: float, tempo_bpm: float | None = None, tonic: str = "C",
                  band: str | None = None, catalog=None) -> Timeline:
    """A one-region timeline of ``duration_s`` seconds (tempo defaults to the descriptor's)."""
    catalog = catalog or load_catalog()
    if tempo_bpm is None:
        try:
            tempo_bpm = catalog.get(descriptor).default_tempo_bpm
        except CatalogError as exc:
            raise TimelineError(str(exc)) from None
    region = Region("1", 0.0, duration_s, descriptor, tempo_bpm, tonic, band)
    return Timeline((region,), duration_s).check_descriptors(catalog=catalog)


def multi_region(regions: list[dict], *, catalog=None) -> Timeline:
    """A timeline from region dicts (start_s, end_s, descriptor, tempo_bpm, tonic, optional band and id).

    The timeline ends with the last region; ``tempo_bpm`` defaults to the descriptor's
    tempo, ``tonic`` to C, ``id`` to the region's number.
    """
    catalog = catalog or load_catalog()
    built = []
    for n, spec in enumerate(regions, start=1):
        if not isinstance(spec, dict):
            raise TimelineError(f"Region {n} must be a dict of start_s, end_s, descriptor, ... (got {spec!r}).")
        unknown = sorted(set(spec) - set(_REGION_KEYS))
        if unknown:
            raise TimelineError(f"Region {n} has an unknown field '{unknown[0]}'; allowed fields are "
                                f"{', '.join(_REGION_KEYS)}.")
        missing = [k for k in ("start_s", "end_s", "descriptor") if k not in spec]
        if missing:
            raise TimelineError(f"Region {n} needs '{missing[0]}'.")
        tempo = spec.get("tempo_bpm")
        if tempo is None:
            try:
                tempo = catalog.get(spec["descriptor"]).default_tempo_bpm
            except CatalogError as exc:
                raise TimelineError(f"Region {n}: {exc}") from None
        built.append(Region(spec.get("id", str(n)), spec["start_s"], spec["end_s"], spec["descriptor"], tempo,
                            spec.get("tonic", "C"), spec.get("band")))
    if not built:
        raise TimelineError("The timeline has no regions: give at least one region.")
    return Timeline(tuple(built), max(r.end_s for r in built)).check_descriptors(catalog=catalog)
