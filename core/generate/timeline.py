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
import numbers
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path

import numpy as np

from core.analysis.key import PITCH_CLASSES
from core.bounds import MAX_DURATION_S, MIN_REGION_S, TEMPO_RANGE_BPM, positive_setting
from core.errors import StudioError
from core.generate.catalog import CatalogError, load_catalog
from core.paths import ASSETS
from core.span import Span

SCHEMA_PATH = ASSETS / "timeline.schema.json"
_EPS = 1e-6
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "\u266f": 1, "b": -1, "\u266d": -1}
_REGION_KEYS = ("id", "start_s", "end_s", "descriptor", "tempo_bpm", "tonic", "band")

# -- input budgets: what a timeline or segments file may hold (docs/timeline.md, "Limits") ----------
#: The largest timeline or segments JSON text read, in MB (a real one is a few kB);
#: the environment variable :data:`ENV_MAX_JSON_MB` sets another size.
MAX_JSON_MB = 5.0
ENV_MAX_JSON_MB = "STUDIO_MAX_JSON_MB"
#: The deepest nesting of lists and objects (a timeline needs 8 levels, a segments file 3).
MAX_JSON_DEPTH = 32
#: The most spans and regions in a timeline: a 20-minute timeline of one-second regions has
#: 1,200 regions and at most 2,402 spans.
MAX_SPANS = 10_000
MAX_REGIONS = 2_000
#: The longest descriptor, band, region id or label (characters).
MAX_NAME_CHARS = 100
#: The longest error message (characters), and the longest piece of user text quoted in one.
MAX_MESSAGE_CHARS = 300
MAX_SHOWN_CHARS = 60
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
#: The most digits of a whole number in a JSON file (larger ones are refused, not converted).
_MAX_DIGITS = 100


def cap_message(message) -> str:
    """``message`` cut to :data:`MAX_MESSAGE_CHARS` characters, ending with "..." when cut."""
    text = str(message)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 3] + "..."


def shown(value, *, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as a message quotes it: JSON-like, at most ``limit`` characters (cut with "..."),
    however large the value (a list of a million items costs four)."""
    text = _sketch(value, depth=2)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def named(text) -> str:
    """``text`` (a name from the user's file) in single quotes, cut to :data:`MAX_SHOWN_CHARS`."""
    text = str(text)
    return f"'{text}'" if len(text) <= MAX_SHOWN_CHARS else f"'{text[:MAX_SHOWN_CHARS - 3]}...'"


def _sketch(value, *, depth: int) -> str:
    if isinstance(value, str):
        return json.dumps(value[:MAX_SHOWN_CHARS + 1])
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if value.bit_length() < 300 else "a number too large to show"
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else repr(value)
    if isinstance(value, numbers.Real):
        return str(value)[:MAX_SHOWN_CHARS + 1]
    if isinstance(value, (dict, list, tuple)):
        braces = "{}" if isinstance(value, dict) else "[]"
        if depth <= 0 and value:
            return braces[0] + "..." + braces[1]
        parts = ([f"{_sketch(str(k), depth=0)}: {_sketch(v, depth=depth - 1)}" for k, v in islice(value.items(), 4)]
                 if isinstance(value, dict) else [_sketch(v, depth=depth - 1) for v in islice(value, 4)])
        return braces[0] + ", ".join(parts) + (", ..." if len(value) > 4 else "") + braces[1]
    return type(value).__name__


class TimelineError(StudioError):
    """The timeline is not valid: bad JSON, a missing field, overlapping regions, ..."""

    def __init__(self, message: str = ""):
        super().__init__(cap_message(message))


def max_json_bytes() -> int:
    """The text budget of a timeline or segments file in bytes: :data:`MAX_JSON_MB`, or the
    number of MB in the environment variable :data:`ENV_MAX_JSON_MB`."""
    return int(positive_setting(ENV_MAX_JSON_MB, MAX_JSON_MB, example="10") * 1_000_000)


def json_upload_mb() -> int:
    """The upload limit of a timeline or segments JSON file on a page (whole MB, at least 1)."""
    return max(1, math.ceil(max_json_bytes() / 1_000_000))


def check_json_size(size: int, *, what: str, error: type[StudioError]) -> None:
    """Refuse ``size`` bytes of JSON over the text budget (:func:`max_json_bytes`) with ``error``."""
    budget = max_json_bytes()
    if size > budget:
        shown_mb = f"{size / 1e6:.1f}" if size >= 100_000 else f"{size / 1e6:.2g}"
        raise error(f"{what} is {shown_mb} MB; the studio reads files of up to {budget / 1e6:g} MB (a real "
                    f"one is a few kB). Check it is the right file, or set {ENV_MAX_JSON_MB} to more MB.")


def read_json_text(text: str | bytes, *, what: str, shape: str, error: type[StudioError], check_counts=None):
    """Strict JSON from user text or bytes (UTF-8, a BOM allowed; NaN, Infinity, numbers too
    large for a float and whole numbers of over 100 digits refused).

    The size is checked before decoding (:func:`check_json_size`) and the nesting
    (:data:`MAX_JSON_DEPTH`) before parsing; ``check_counts(data)``, when given, runs right after
    parsing. Every failure is ``error`` with a message that starts with ``what`` ("The timeline")
    and says where: line and column, not UTF-8, too big, or nested too deeply to be ``shape``.
    """
    def no_constant(name):
        raise error(f"{what} contains {name}, which is not a number; use plain numbers.")

    def finite(digits):
        value = float(digits)
        if not math.isfinite(value):
            raise error(f"{what} contains the number {shown(digits)}, which is too large; use plain numbers.")
        return value

    def whole(digits):
        if len(digits) > _MAX_DIGITS:
            raise error(f"{what} contains a number of {len(digits):,} digits, which is too large; use plain numbers.")
        return int(digits)

    check_json_size(len(text), what=what, error=error)
    deep = f"{what} is nested too deeply to be {shape} (more than {MAX_JSON_DEPTH} levels of lists and objects)."
    try:
        text = text.decode("utf-8-sig") if isinstance(text, (bytes, bytearray)) else text.lstrip("\ufeff")
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text; save it as a UTF-8 JSON file.") from None
    if _text_depth(text) > MAX_JSON_DEPTH:
        raise error(deep)
    try:
        data = json.loads(text, parse_constant=no_constant, parse_float=finite, parse_int=whole)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise error(deep) from None
    if check_counts is not None:
        check_counts(data)
    return data


def _text_depth(text: str) -> int:
    """How deeply the lists and objects of JSON ``text`` nest, from its brackets outside strings
    (regular expressions and a cumulative sum: fast on megabytes, no recursion)."""
    brackets = np.frombuffer(_NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii"), dtype=np.uint8)
    if not brackets.size:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def check_nesting(data, *, what: str, shape: str, error: type[StudioError]) -> None:
    """Refuse lists and objects nested deeper than :data:`MAX_JSON_DEPTH` (walked without recursion)."""
    level, depth = [data] if isinstance(data, (dict, list)) and data else [], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise error(f"{what} is nested too deeply to be {shape} (more than {MAX_JSON_DEPTH} levels of lists "
                        "and objects).")
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v)
                 if c and isinstance(c, (dict, list))]


def parse_tonic(name, *, where: str = "tonic") -> str:
    """The sharp pitch name of ``name``: ``"Bb"`` -> ``"A#"``, ``"e#"`` -> ``"F"``, ``"Cb"`` -> ``"B"``."""
    text = name if isinstance(name, str) else ""
    letter, accidental = text[:1].upper(), text[1:]
    if letter not in _NATURALS or accidental not in _ACCIDENTALS:
        raise TimelineError(f"{where} {shown(name)} is not a pitch name: use a letter A-G with an "
                            "optional # or b, e.g. C, F#, Bb.")
    return PITCH_CLASSES[(_NATURALS[letter] + _ACCIDENTALS[accidental]) % 12]


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise TimelineError(f"{what} must be a number (got {shown(value)}).")
    return float(value)


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a whole number too large for a float
        return False


def _too_long(value) -> bool:
    return isinstance(value, str) and len(value) > MAX_NAME_CHARS


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
        if not rid.strip() or _too_long(rid):
            raise TimelineError(f"A region id must be a name or number of 1 to {MAX_NAME_CHARS} characters "
                                f"(got {shown(self.id)}).")
        name = f"Region {named(rid)}"
        for what, value in (("descriptor", self.descriptor), ("band", self.band), ("label", self.label)):
            if _too_long(value):
                raise TimelineError(f"{name}: the {what} {shown(value)} is longer than {MAX_NAME_CHARS} characters.")
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
            raise TimelineError(f"{name} needs a descriptor name (got {shown(self.descriptor)}).")
        if self.band is not None and (not isinstance(self.band, str) or not self.band):
            raise TimelineError(f"{name}: the band must be a band name or None (got {shown(self.band)}).")
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
        _check_region_count(len(regions))
        if not all(isinstance(r, Region) for r in regions):
            raise TimelineError("A timeline holds Region objects only.")
        if not regions:
            raise TimelineError("The timeline has no regions: add at least one metered span with an "
                                "add_region action.")
        regions = tuple(sorted(regions, key=lambda r: r.start_s))
        seen = set()
        for r in regions:
            if r.id in seen:
                raise TimelineError(f"Region id {named(r.id)} is used twice; every region needs its own id.")
            seen.add(r.id)
        for a, b in zip(regions, regions[1:]):
            if b.start_s < a.end_s - _EPS:
                raise TimelineError(f"Regions {named(a.id)} ({_fmt(a.start_s)} to {_fmt(a.end_s)}) and {named(b.id)} "
                                    f"({_fmt(b.start_s)} to {_fmt(b.end_s)}) overlap; a region must end "
                                    "before the next one starts.")
        if regions[-1].end_s > duration + _EPS:
            raise TimelineError(f"Region {named(regions[-1].id)} ends at {_fmt(regions[-1].end_s)}, after the end "
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
                raise TimelineError(f"Region {named(r.id)}: {exc}") from None
            if r.band is not None and r.band not in desc.bands:
                raise TimelineError(f"Region {named(r.id)}: {named(r.band)} is not a band of {r.descriptor}; "
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
        _check_counts(data)
        check_nesting(data, what="The timeline", shape="a timeline", error=TimelineError)
        return cls._from_checked(data, catalog=catalog, check_catalog=check_catalog)

    @classmethod
    def _from_checked(cls, data, *, catalog, check_catalog: bool) -> "Timeline":
        """:meth:`from_dict` once the counts and the nesting are known to be within budget."""
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
        data = read_json_text(text, what="The timeline", shape="a timeline", error=TimelineError,
                              check_counts=_check_counts)
        return cls._from_checked(data, catalog=catalog, check_catalog=check_catalog)


def _check_region_count(count: int) -> None:
    if count > MAX_REGIONS:
        raise TimelineError(f"The timeline has {count:,} regions; at most {MAX_REGIONS:,} are allowed (a region lasts "
                            f"at least {_fmt(MIN_REGION_S)} and a timeline at most {MAX_DURATION_S / 60:g} minutes).")


def _check_counts(data) -> None:
    """Refuse more than :data:`MAX_SPANS` spans or :data:`MAX_REGIONS` regions before any validation."""
    timeline = data.get("timeline") if isinstance(data, dict) else None
    spans = timeline.get("spans") if isinstance(timeline, dict) else None
    if not isinstance(spans, list):
        return
    if len(spans) > MAX_SPANS:
        raise TimelineError(f"The timeline has {len(spans):,} spans; at most {MAX_SPANS:,} are allowed (a "
                            f"{MAX_DURATION_S / 60:g}-minute timeline needs far fewer).")
    _check_region_count(sum(len(s["actions"]) for s in spans
                            if isinstance(s, dict) and isinstance(s.get("actions"), list)))


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
    got = shown(err.instance)
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
    if kind == "maxLength":
        return f"{where} is {len(err.instance):,} characters long; at most {value} are allowed."
    if kind in ("minItems", "minLength"):
        return f"{where} must not be empty" + (f" ({_HINTS[field]})." if field in _HINTS else ".")
    if kind == "maxItems":
        return f"{where} must name exactly one band (got {len(err.instance)})."
    if kind == "additionalProperties":
        extra = sorted(k for k in err.instance if k not in schema.get("properties", {}))
        return (f"{where} has an unknown field {named(extra[0])}; allowed fields are "
                f"{', '.join(schema.get('properties', {}))}.")
    if kind == "pattern":
        return f"{where} {got} is not {_HINTS.get(field, 'in the expected format')}."
    if kind == "not":
        return (f"{where} is unmetered (silence, or the end of the timeline), so it cannot have a tempo, "
                "instrument_groups or actions.")
    return f"{where}: {err.message}."


#: Schema errors looked at: the first few, in document order (never all: a file of a million
#: wrong spans would make a million errors).
_FIRST_ERRORS = 16


def _check_schema(data) -> None:
    errors = list(islice(_validator().iter_errors(data), _FIRST_ERRORS))
    if errors:
        raise TimelineError(_plain(min(errors, key=lambda e: tuple(e.absolute_path))))


# -- building timelines ---------------------------------------------------------------------------

def load_timeline(path, *, catalog=None) -> Timeline:
    """Read and validate a timeline JSON file: a regular file, no larger than the text budget
    (:func:`max_json_bytes`, checked before it is read)."""
    what = f"The timeline file {named(Path(path).name)}"
    try:
        if Path(path).exists() and not Path(path).is_file():
            raise TimelineError(f"{what} is not a file: give the path of a .json file.")
        with open(path, "rb") as f:
            check_json_size(os.fstat(f.fileno()).st_size, what=what, error=TimelineError)
            text = f.read(max_json_bytes() + 1)
    except OSError as exc:
        raise TimelineError(f"{what} could not be read: {exc.strerror or exc}.") from None
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
    built, regions = [], list(regions)
    _check_region_count(len(regions))
    for n, spec in enumerate(regions, start=1):
        if not isinstance(spec, dict):
            raise TimelineError(f"Region {n} must be a dict of start_s, end_s, descriptor, ... (got {shown(spec)}).")
        unknown = sorted(set(spec) - set(_REGION_KEYS))
        if unknown:
            raise TimelineError(f"Region {n} has an unknown field {named(unknown[0])}; allowed fields are "
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
