"""The descriptor catalog (assets/catalog.json): loaded and validated once.

A descriptor is ``genre_subgenre_mood`` (e.g. ``cinematic_percussion_primal_pulsing``). It
carries its labels (genre, subgenre, mood, sentiment, valence 0-2, momentum 0-4) and the
musical constraints the composer obeys: tempo range, mode and scale, progressions, groove
family, swing, chord/bass/lead styles, instrument bands, density, dynamics, register,
articulation and harmonic rhythm.

The labels are made audible by rule (the catalog follows it, so a classifier can hear them):
sentiment sets the scale family (positive: major, lydian, mixolydian; neutral: dorian;
negative: natural or harmonic minor); valence sets the register (0 low, 1 mid, 2 high) and
the brightness; momentum sets density, dynamics, the lead's note rate and the tempo band; moods that share all
three labels inside a subgenre differ in articulation, harmonic rhythm or scale.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import pretty_midi

from core.bounds import TEMPO_MAX_BPM, TEMPO_MIN_BPM
from core.errors import StudioError
from core.generate.grooves import load_grooves
from core.generate.harmony import parse_chord
from core.paths import ASSETS

CATALOG_PATH = ASSETS / "catalog.json"
WORDS_PATH = ASSETS / "descriptor_words.json"
LEVEL_WORDS_PATH = ASSETS / "label_words.json"

SENTIMENTS = ("negative", "neutral", "positive")
ROLES = ("drums", "percussion", "bass", "harmony", "pad", "lead")
DYNAMICS = {"soft": 62, "medium": 80, "loud": 98}
REGISTERS = {"low": -5, "mid": 0, "high": 7}
REVERBS = ("room", "plate", "hall")
#: Chords per bar: 0.5 (each chord held two bars), 1, or 2 (a change every half bar).
HARMONIC_RHYTHMS = (0.5, 1.0, 2.0)
CHORD_STYLES = ("triad", "seventh", "ninth", "add9", "sus", "power")
BASS_STYLES = ("drone", "ostinato", "bounce", "pulse", "octaves", "offbeat", "808", "boombap", "eighths",
               "roots", "alternating", "walking", "bossa")
LEAD_STYLES = ("motif", "arpeggio")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}


class CatalogError(StudioError):
    """The catalog file is invalid, or a descriptor name is unknown."""


@dataclass(frozen=True)
class Descriptor:
    """One catalog entry with everything the composer needs."""

    name: str
    genre: str
    subgenre: str
    mood: str
    sentiment: str
    valence: int
    momentum: int
    tempo_bpm: tuple[float, float]  # the mood's 40 % of the subgenre's range
    mode: str  # key mode for analysis: major | minor
    scale: tuple[int, ...]  # semitones of the melodic scale
    progressions: tuple[tuple[str, ...], ...]
    groove: str
    swing: float
    chord_style: str
    bass_style: str
    lead_style: str
    lead_rate: float  # lead notes per beat at full intensity
    reverb: str
    humanize: float
    brightness: float  # -1 dark .. 1 bright (EQ tilt)
    density: float  # 0..1 onset density
    velocity: int  # base MIDI velocity from dynamics
    register: int  # semitone shift of harmony and lead
    tempo_bias: float  # -1 slow end .. 1 fast end of the tempo range
    bands: dict  # band name -> {role: GM program or None}
    articulation: str = "normal"  # legato | normal | staccato (the mood's touch)
    harmonic_rhythm: float = 1.0  # chords per bar: 0.5, 1 or 2
    note_length: float = 1.0  # the articulation's note length (x the written length)
    mix_db: dict = field(default_factory=dict)  # role -> level offset (dB) from articulation and momentum

    @property
    def default_tempo_bpm(self) -> float:
        lo, hi = self.tempo_bpm
        return round((lo + hi) / 2, 1)

    def labels(self) -> dict:
        return {"descriptor": self.name, "genre": self.genre, "subgenre": self.subgenre, "mood": self.mood,
                "sentiment": self.sentiment, "valence": self.valence, "momentum": self.momentum}


@dataclass(frozen=True)
class SearchHit:
    """One descriptor found by :meth:`Catalog.ranked`: ``matched`` of the query's ``of`` words."""

    name: str
    matched: int
    of: int
    score: float


@dataclass(frozen=True)
class Catalog:
    descriptors: dict[str, Descriptor]

    def __len__(self) -> int:
        return len(self.descriptors)

    def names(self) -> list[str]:
        return sorted(self.descriptors)

    def get(self, name: str) -> Descriptor:
        """The descriptor called ``name``; an unknown name suggests the nearest ones."""
        try:
            return self.descriptors[name]
        except KeyError:
            near = self.suggest(name)
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            raise CatalogError(f"Unknown descriptor '{name}'.{hint}") from None

    def suggest(self, name: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(str(name), self.names(), n=n, cutoff=0.5)

    def tree(self) -> dict[str, dict[str, list[str]]]:
        """genre -> subgenre -> moods, for pickers."""
        out: dict[str, dict[str, list[str]]] = {}
        for d in self.descriptors.values():
            out.setdefault(d.genre, {}).setdefault(d.subgenre, []).append(d.mood)
        return out

    @cached_property
    def _index(self) -> dict[str, tuple[frozenset, frozenset]]:
        words = load_descriptor_words()
        return {n: index_terms(d, words) for n, d in self.descriptors.items()}

    def search(self, text: str) -> list[str]:
        """Descriptor names for what a musician types ("upbeat corporate", "sad piano"), best
        first: those matching every word, or where none does, those matching the most words
        (:meth:`ranked` has them all); every name for an empty query."""
        if not query_tokens(text, load_descriptor_words()):
            return self.names()
        hits = self.ranked(text)
        return [hit.name for hit in hits if hit.matched == hits[0].matched]

    def ranked(self, text: str) -> list[SearchHit]:
        """The descriptors matching at least one word of ``text``: those matching every word
        first, then the most words, then the closest matches (the word itself before its
        synonyms, names before instruments), ties by name. Deterministic."""
        words = load_descriptor_words()
        tokens = query_tokens(text, words)
        hits = []
        for name, (name_terms, other_terms) in self._index.items():
            scores = [token_score(t, words.synonyms.get(t, ()), name_terms, other_terms) for t in tokens]
            matched = sum(score > 0 for score in scores)
            if matched:
                hits.append(SearchHit(name=name, matched=matched, of=len(tokens), score=round(sum(scores), 6)))
        return sorted(hits, key=lambda h: (-h.matched, -h.score, h.name))

    def describe(self, name: str) -> str:
        """A descriptor in plain words, e.g. "Pop, corporate: happy and bright, medium-fast
        (110-122 BPM), piano, strings, glockenspiel and drums"."""
        return describe_descriptor(self.get(name), load_descriptor_words())


def mood_tempo_range(lo: float, hi: float, bias: float) -> tuple[float, float]:
    """A descriptor's tempo range: the 40 % of its subgenre's range that its mood leans to
    (sad and idle moods sit low, driving and celebratory ones high)."""
    width = 0.4 * (hi - lo)
    center = lo + (hi - lo) * (0.5 + 0.5 * bias)
    start = min(max(center - width / 2, lo), hi - width)
    return round(start, 1), round(start + width, 1)


def _mix(articulation_db: dict, drums_db: float) -> dict:
    out = {role: float(v) for role, v in articulation_db.items()}
    out["drums"] = out.get("drums", 0.0) + drums_db
    return out


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise CatalogError(f"Catalog entry '{where}': {what}")


def _check_progressions(progs: dict) -> None:
    for pname, p in progs.items():
        _check(p.get("mode") in ("major", "minor"), pname, "mode must be major or minor")
        _check(p.get("scale") in SCALES, pname, f"scale must be one of {', '.join(SCALES)}")
        _check(isinstance(p.get("list"), list) and p["list"], pname, "needs a non-empty 'list' of progressions")
        for prog in p["list"]:
            for chord in prog:
                try:
                    parse_chord(chord)
                except ValueError as exc:
                    raise CatalogError(f"Catalog entry '{pname}': {exc}") from None


def _articulations(raw: dict) -> dict:
    """The articulations (note length, mix offsets), checked; keys starting with _ are comments."""
    arts = {k: v for k, v in raw.get("articulations", {}).items() if not k.startswith("_")}
    _check(bool(arts), "articulations", "needs at least one articulation")
    for aname, a in arts.items():
        _check(0.1 <= float(a.get("length", -1)) <= 2.0, f"articulations/{aname}", "length must be 0.1-2")
        _check(isinstance(a.get("mix_db", {}), dict) and all(r in ROLES and -24 <= float(v) <= 12
                                                            for r, v in a.get("mix_db", {}).items()),
               f"articulations/{aname}", f"mix_db maps roles ({', '.join(ROLES)}) to -24..12 dB")
    return arts


def _momentum(raw: dict) -> dict:
    """The lead rate and drum level of each momentum level 0-4, checked."""
    mom = raw.get("momentum", {})
    for key in ("lead_rate", "drums_db"):
        _check(isinstance(mom.get(key), list) and len(mom[key]) == 5, "momentum", f"{key} needs 5 values (levels 0-4)")
    _check(all(0.1 <= float(r) <= 4 for r in mom["lead_rate"]), "momentum", "lead_rate values must be 0.1-4")
    _check(all(-24 <= float(r) <= 12 for r in mom["drums_db"]), "momentum", "drums_db values must be -24..12 dB")
    return mom


def _check_moods(moods: dict, progs: dict, arts: dict) -> None:
    for mname, m in moods.items():
        _check(m.get("sentiment") in SENTIMENTS, mname, "sentiment must be negative, neutral or positive")
        _check(m.get("valence") in (0, 1, 2), mname, "valence must be 0, 1 or 2")
        _check(m.get("momentum") in (0, 1, 2, 3, 4), mname, "momentum must be 0-4")
        _check(m.get("harmony") in progs, mname, f"harmony '{m.get('harmony')}' is not a progression family")
        _check(0 <= float(m.get("density", -1)) <= 1, mname, "density must be 0-1")
        _check(m.get("dynamics") in DYNAMICS, mname, f"dynamics must be one of {', '.join(DYNAMICS)}")
        _check(m.get("register") in REGISTERS, mname, f"register must be one of {', '.join(REGISTERS)}")
        _check(-1 <= float(m.get("tempo_bias", 0)) <= 1, mname, "tempo_bias must be -1..1")
        _check(m.get("articulation", "normal") in arts, mname, f"articulation must be one of {', '.join(arts)}")
        _check(float(m.get("harmonic_rhythm", 1.0)) in HARMONIC_RHYTHMS, mname,
               "harmonic_rhythm (chords per bar) must be 0.5, 1 or 2")


def _check_subgenre(where: str, s: dict) -> None:
    """Tempo range, styles, swing, bands and moods of a subgenre."""
    lo, hi = s.get("tempo_bpm", [0, 0])
    _check(TEMPO_MIN_BPM <= lo < hi <= TEMPO_MAX_BPM, where,
           f"tempo_bpm must be [low, high] within {TEMPO_MIN_BPM:g}-{TEMPO_MAX_BPM:g}")
    for key, allowed in (("chord_style", CHORD_STYLES), ("bass_style", BASS_STYLES),
                         ("lead_style", LEAD_STYLES), ("reverb", REVERBS)):
        _check(s.get(key) in allowed, where, f"{key} must be one of {', '.join(allowed)}")
    _check(0 <= float(s.get("swing", -1)) <= 0.75, where, "swing must be 0-0.75")
    bands = s.get("bands", {})
    _check(bool(bands), where, "needs at least one band")
    for bname, band in bands.items():
        _check(set(band) == set(ROLES), f"{where}/{bname}", f"a band names exactly the roles {', '.join(ROLES)}")
        for role, prog in band.items():
            _check(prog is None or (isinstance(prog, int) and 0 <= prog <= 127), f"{where}/{bname}",
                   f"{role} must be a General MIDI program 0-127 or null")
        _check(band["harmony"] is not None and band["bass"] is not None, f"{where}/{bname}",
               "harmony and bass are required")
    _check(bool(s.get("moods")), where, "needs a list of moods")


def _descriptor(*, gname: str, sname: str, s: dict, mood: str, m: dict, fam: dict, arts: dict,
                mom: dict) -> Descriptor:
    """A descriptor from its subgenre ``s``, its mood ``m`` and the mood's progression family ``fam``."""
    lo, hi = s["tempo_bpm"]
    touch = m.get("articulation", "normal")
    return Descriptor(
        name=f"{gname}_{sname}_{mood}", genre=gname, subgenre=sname, mood=mood, sentiment=m["sentiment"],
        valence=int(m["valence"]), momentum=int(m["momentum"]),
        tempo_bpm=mood_tempo_range(float(lo), float(hi), float(m.get("tempo_bias", 0.0))),
        mode=fam["mode"], scale=SCALES[fam["scale"]],
        progressions=tuple(tuple(p) for p in fam["list"]), groove=s["groove"], swing=float(s["swing"]),
        chord_style=s["chord_style"], bass_style=s["bass_style"], lead_style=s["lead_style"],
        lead_rate=float(s.get("lead_rate", 1.0)) * float(mom["lead_rate"][int(m["momentum"])]),
        reverb=s["reverb"],
        humanize=float(s.get("humanize", 0.0)),
        brightness=float(s.get("brightness", 0.0)) + 0.25 * (int(m["valence"]) - 1),
        density=float(m["density"]), velocity=DYNAMICS[m["dynamics"]],
        register=REGISTERS[m["register"]], tempo_bias=float(m.get("tempo_bias", 0.0)), bands=s["bands"],
        articulation=touch, note_length=float(arts[touch]["length"]),
        mix_db=_mix(arts[touch].get("mix_db", {}), float(mom["drums_db"][int(m["momentum"])])),
        harmonic_rhythm=float(m.get("harmonic_rhythm", 1.0)),
    )


def _parse(raw: dict) -> Catalog:
    progs = raw.get("progressions")
    moods = raw.get("moods")
    genres = raw.get("genres")
    _check(isinstance(progs, dict) and isinstance(moods, dict) and isinstance(genres, dict), "catalog",
           "needs 'progressions', 'moods' and 'genres' objects")
    _check_progressions(progs)
    arts = _articulations(raw)
    mom = _momentum(raw)
    _check_moods(moods, progs, arts)
    out: dict[str, Descriptor] = {}
    for gname, g in genres.items():
        for sname, s in g.get("subgenres", {}).items():
            _check_subgenre(f"{gname}_{sname}", s)
            for mood in s["moods"]:
                name = f"{gname}_{sname}_{mood}"
                _check(mood in moods, name, f"mood '{mood}' is not defined")
                _check(name not in out, name, "defined twice")
                m = moods[mood]
                family = s.get("harmony_map", {}).get(m["harmony"], m["harmony"])
                _check(family in progs, name, f"harmony_map names '{family}', which is not a progression family")
                out[name] = _descriptor(gname=gname, sname=sname, s=s, mood=mood, m=m, fam=progs[family],
                                        arts=arts, mom=mom)
    _check(bool(out), "catalog", "defines no descriptors")
    return Catalog(out)


@lru_cache(maxsize=4)
def load_catalog(path: str = str(CATALOG_PATH)) -> Catalog:
    """Load and validate the catalog (cached: it is read once per process)."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CatalogError(f"The catalog {path} could not be read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"The catalog {path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    try:
        cat = _parse(raw)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise CatalogError(f"The catalog {path} has an entry of the wrong shape ({type(exc).__name__}: {exc}).") from None
    grooves = load_grooves()
    for d in cat.descriptors.values():
        _check(d.groove in grooves, d.name, f"groove '{d.groove}' is not in assets/grooves.json")
    return cat


# ------------------------------------------------------------------------------ words for musicians


@dataclass(frozen=True)
class DescriptorWords:
    """assets/descriptor_words.json, checked, with the level words of assets/label_words.json."""

    synonyms: dict[str, tuple[str, ...]]  # a normalised word -> the catalog words it stands for, best first
    ignore: frozenset
    tempo_words: tuple[tuple[float, str], ...]  # (upper BPM bound, word), ascending
    short_names: tuple[tuple[str, str], ...]  # (part of a GM program name, plain word)
    valence: tuple[str, ...]
    momentum: tuple[str, ...]


def normalise(word: str) -> str:
    """A word as search compares it: lower case, a plural's ``s`` dropped (drums -> drum, not bass)."""
    w = word.lower()
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def split_words(text: str) -> list[str]:
    return [normalise(w) for w in re.split(r"[^0-9a-zA-Z]+", str(text)) if w]


def _words_error(path, what: str) -> CatalogError:
    return CatalogError(f"The descriptor words file {path} is not usable: {what}. Fix the file (see its 'about').")


def _word_list(value, path, where: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(w, str) and w.strip() for w in value)):
        raise _words_error(path, f"{where} must be a non-empty list of words")
    return tuple(value)


def _level_words(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise _words_error(path, f"it could not be read ({exc})") from None
    valence, momentum = raw.get("valence"), raw.get("momentum")
    if not (isinstance(valence, list) and len(valence) == 3 and isinstance(momentum, list) and len(momentum) == 5):
        raise _words_error(path, "it needs 3 'valence' words and 5 'momentum' words")
    return tuple(map(str, valence)), tuple(map(str, momentum))


def _pairs(raw, path, key: str, kind) -> tuple:
    pairs = raw.get(key)
    if not (isinstance(pairs, list) and pairs and all(isinstance(x, list) and len(x) == 2 for x in pairs)):
        raise _words_error(path, f"'{key}' must be a list of [{kind.__name__}, word] pairs")
    try:
        return tuple((kind(a), str(b)) for a, b in pairs)
    except (TypeError, ValueError):
        raise _words_error(path, f"'{key}' must be a list of [{kind.__name__}, word] pairs") from None


@lru_cache(maxsize=4)
def load_descriptor_words(path: str = str(WORDS_PATH), levels_path: str = str(LEVEL_WORDS_PATH)) -> DescriptorWords:
    """Load and check the search words (cached: read once per process)."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise _words_error(path, f"it could not be read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise _words_error(path, f"it is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("synonyms"), dict) or not raw["synonyms"]:
        raise _words_error(path, "it needs a 'synonyms' object (word -> list of words)")
    synonyms = {}
    for word, alikes in raw["synonyms"].items():
        if len(split_words(word)) != 1:
            raise _words_error(path, f"the synonym key '{word}' must be one word")
        synonyms[normalise(word)] = tuple(normalise(w) for w in _word_list(alikes, path, f"synonyms '{word}'"))
    tempo = _pairs(raw, path, "tempo_words", float)
    if [b for b, _ in tempo] != sorted(b for b, _ in tempo) or tempo[-1][0] <= TEMPO_MAX_BPM:
        raise _words_error(path, f"'tempo_words' bounds must rise and the last must be above {TEMPO_MAX_BPM:g} BPM")
    ignore = frozenset(normalise(w) for w in _word_list(raw.get("ignore", ["and"]), path, "'ignore'"))
    valence, momentum = _level_words(Path(levels_path))
    return DescriptorWords(synonyms=synonyms, ignore=ignore, tempo_words=tempo,
                           short_names=_pairs(raw, path, "short_names", str), valence=valence, momentum=momentum)


def instrument_word(program: int, words: DescriptorWords) -> str:
    """A General MIDI program in a musician's word ("Acoustic Grand Piano" -> "piano")."""
    name = pretty_midi.program_to_instrument_name(int(program)).lower()
    for part, word in words.short_names:
        if part in name:
            return word
    return re.sub(r"\s*\(.*\)|\s+\d+$", "", name).strip()


def band_words(band: dict, words: DescriptorWords) -> list[str]:
    """The instruments of one band in plain words (not its bass: every band has one), tunes
    first, drums last, no repeats."""
    named = [instrument_word(band[role], words) for role in ("harmony", "lead", "pad")
             if band.get(role) is not None]
    named += [role for role in ("percussion", "drums") if band.get(role) is not None]
    return list(dict.fromkeys(named))


def tempo_word(bpm: float, words: DescriptorWords) -> str:
    return next(word for bound, word in words.tempo_words if bpm < bound)


def describe_descriptor(d: Descriptor, words: DescriptorWords) -> str:
    """A descriptor in plain words: genre, subgenre, mood, brightness, tempo and its first band."""
    mood, bright = d.mood.replace("_", " "), words.valence[d.valence]
    feel = mood if bright in mood else f"{mood} and {bright}"
    lo, hi = d.tempo_bpm
    band = band_words(next(iter(d.bands.values())), words)
    kit = ", ".join(band[:-1]) + f" and {band[-1]}" if len(band) > 1 else "".join(band)
    return (f"{d.genre.capitalize()}, {d.subgenre.replace('_', ' ')}: {feel}, "
            f"{tempo_word(d.default_tempo_bpm, words)} ({lo:.0f}-{hi:.0f} BPM), {kit}")


def index_terms(d: Descriptor, words: DescriptorWords) -> tuple[frozenset, frozenset]:
    """(name words: genre, subgenre, mood; other words: instruments by General MIDI name and in
    plain words, band names, sentiment, levels, tempo) of a descriptor, as search compares them."""
    names = set(split_words(d.genre) + split_words(d.subgenre) + split_words(d.mood))
    names |= {normalise(d.genre + d.subgenre), normalise(d.subgenre.replace("_", ""))}
    other = set(split_words(d.sentiment) + split_words(words.valence[d.valence]))
    other |= set(split_words(words.momentum[d.momentum]) + split_words(tempo_word(d.default_tempo_bpm, words)))
    for bname, band in d.bands.items():
        other |= set(split_words(bname)) | set(split_words(" ".join(band_words(band, words))))
        for role, program in band.items():
            if program is not None and role not in ("drums", "percussion"):
                other |= set(split_words(pretty_midi.program_to_instrument_name(int(program))))
    return frozenset(names - words.ignore), frozenset(other - names - words.ignore)


def query_tokens(text: str, words: DescriptorWords) -> list[str]:
    """The words of a query that narrow a search (no repeats, none of the ignored words)."""
    return [t for t in dict.fromkeys(split_words(text)) if t not in words.ignore]


def token_score(token: str, synonyms: tuple[str, ...], name_terms: frozenset, other_terms: frozenset) -> float:
    """How well one query word matches a descriptor: 3 the word in its genre, subgenre or mood;
    2-2.5 a synonym there (the first synonyms more); 1 the word or a synonym among its other
    words (instruments, levels, tempo); 0.5 the beginning of one of its words; 0 no match."""
    if token in name_terms:
        return 3.0
    for i, alike in enumerate(synonyms):
        if alike in name_terms:
            return 2.0 + 0.5 * (1 - i / len(synonyms))
    if token in other_terms or any(alike in other_terms for alike in synonyms):
        return 1.0
    if len(token) >= 3 and any(term.startswith(token) for term in name_terms | other_terms):
        return 0.5
    return 0.0
