"""``make_cover(track, options=CoverOptions(genre=...))``: a track re-made in another genre.

The stages (each reported to ``progress``): the lead sheet (:mod:`core.covers.leadsheet`:
separation, beats, chords, melody), the arrangement (:mod:`core.covers.arrange` and
:func:`core.generate.compose.compose_song`: the song's form, chords, dynamics and melody
played by the target genre's band), the synthesis and the genre's mix (the render engine), and,
with ``keep_vocals`` (or ``timbre``: re-played by an instrument, :mod:`core.covers.timbre`),
the original vocal stem warped beat by beat onto the new tempo
(pedalboard's time stretch with a stretch factor that follows the song's beats) and mixed by
the genre's vocal rule (``assets/cover_rules.json``; a rule for the pair of the original's genre,
as the real-music model hears it, and the target genre overrides the target's own). The master brings it to -14 LUFS with a
-1 dBFS ceiling, as every render.

A cover is kept in the store as a render (its one-region timeline says descriptor, tempo and key)
linked to the original track with kind ``cover``, so it shows on the Listen page beside the
original; its recipe (``Cover.recipe``: everything needed to make it again) is stored as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import librosa
import numpy as np
import pretty_midi
import pyloudnorm

from core.bounds import TEMPO_MAX_BPM, TEMPO_MIN_BPM, in_tempo_range
from core.cachekey import fingerprint, library_versions, stage_key
from core.covers.arrange import (
    COVER_RULES_PATH,
    MIN_SONG_S,
    CoverError,
    bar_grid,
    check_sheet,
    choose_descriptor,
    cover_tempo_bpm,
    genre_rule,
    song_from_sheet,
)
from core.covers.leadsheet import LeadSheet, LeadSheetOptions, lead_sheet, leadsheet_key
from core.covers.timbre import TIMBRE_VERSION, TIMBRES_PATH, TimbreError, timbre, timbre_transfer
from core.embed.genre import EMBED_MODEL, GENRE_MODEL_DIR
from core.embed.hear import heard_catalog_genres
from core.embed.weights import EmbeddingError, weights_fingerprint
from core.errors import OptionError, SeparationError
from core.generate.catalog import load_catalog
from core.generate.compose import compose_song
from core.generate.render import (
    LIBRARIES,
    RENDER_VERSION,
    SAMPLE_RATE,
    RegionRender,
    Render,
    data_fingerprint,
    master,
    mix_arrangement,
)
from core.generate.timeline import single_region
from core.progress import scaled
from core.separation import DEFAULT_MODEL, model_availability, separate
from core.version import __version__

#: Bump when a change alters the cover made of the same track with the same options.
COVER_VERSION = 3
#: The melody's lead sits this much above its usual place in the band (dB): a cover features the tune.
MELODY_BOOST_DB = 4.0
STORE_KIND = "covers"


@dataclass(frozen=True, kw_only=True)
class CoverOptions:
    """genre: a catalog genre; descriptor: one of its descriptors (None: the one that suits the
    song); tempo_bpm: None moves the song's tempo toward the genre; keep_vocals: the original
    vocal sings over the new band (else a lead instrument plays the melody: ``melody_program``,
    a General MIDI program, or the band's lead); timbre: the vocal line re-played by an instrument
    of ``assets/timbres.json`` over the new band (a timbre transfer, :mod:`core.covers.timbre`);
    band: one of the descriptor's bands; seed."""

    genre: str
    descriptor: str | None = None
    tempo_bpm: float | None = None
    keep_vocals: bool = False
    melody_program: int | None = None
    band: str | None = None
    seed: int = 0
    timbre: str | None = None

    def __post_init__(self):
        if self.timbre is not None:
            timbre(self.timbre)  # TimbreError naming the instruments when it is not one
            if self.melody_program is not None:
                raise OptionError("Choose either an instrument to play the melody or a timbre for the vocal line, not both.")
        if self.tempo_bpm is not None and not in_tempo_range(self.tempo_bpm):
            raise OptionError(f"The cover's tempo must be between {TEMPO_MIN_BPM:g} and {TEMPO_MAX_BPM:g} BPM "
                              f"(got {self.tempo_bpm}).")
        if self.melody_program is not None and not 0 <= int(self.melody_program) <= 127:
            raise OptionError(f"The melody instrument must be a General MIDI program 0-127 (got {self.melody_program}).")
        if not isinstance(self.seed, (int, np.integer)) or not 0 <= int(self.seed) < 2**32:
            raise OptionError(f"The seed must be a whole number from 0 to 4294967295 (got {self.seed}).")

    @property
    def sung(self) -> bool:
        """The original vocal line carries the melody (as it is, or re-played by a timbre)."""
        return self.keep_vocals or self.timbre is not None


@dataclass(frozen=True)
class Cover:
    """The cover (a stored-form :class:`Render`), its lead sheet and its recipe."""

    render: Render = field(repr=False)
    sheet: LeadSheet = field(repr=False)
    recipe: dict
    key: str = ""

    def recipe_json(self) -> str:
        return json.dumps(self.recipe, indent=1)


def cover_key(track_hash: str, options: CoverOptions, sheet_options: LeadSheetOptions) -> str:
    """The cover's key: the track, the options, the lead sheet's key, the render engine's version
    and data, the cover rules and timbre profiles, and what names the original's genre (the real-music model's files
    and musicnn's weights, or their absence), all by content."""
    model_files = [GENRE_MODEL_DIR / f for f in ("model.skops", "meta.json", "novelty.npz")]
    try:
        embedding = weights_fingerprint(EMBED_MODEL)
    except EmbeddingError:
        embedding = "no musicnn weights"
    return stage_key("cover", COVER_VERSION, track_hash, asdict(options), leadsheet_key(track_hash, sheet_options),
                     RENDER_VERSION, data_fingerprint(), fingerprint(COVER_RULES_PATH, TIMBRES_PATH, *model_files), embedding,
                     TIMBRE_VERSION, library_versions(*LIBRARIES), length=24)


def check_options(options: CoverOptions) -> None:
    """What can be refused before any listening: the genre, the descriptor, the separation a sung
    line needs (CoverError with what to do)."""
    genre_rule(options.genre)
    catalog = load_catalog()
    names = [n for n in catalog.names() if catalog.get(n).genre == options.genre]
    if options.descriptor is not None and options.descriptor not in names:
        raise CoverError(f"'{options.descriptor}' is not a {options.genre} descriptor; choose one of "
                         f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}.")
    missing = model_availability()[DEFAULT_MODEL]
    if options.sung and missing:
        raise CoverError(f"The original vocals need the separation model ({missing}); let an instrument play the "
                         "melody instead, or install the weights (make weights).")


def _descriptor(options: CoverOptions, sheet: LeadSheet, catalog, rule):
    """The target descriptor: the one named (CoverError if it is not of the genre), else chosen."""
    names = [n for n in catalog.names() if catalog.get(n).genre == options.genre]
    if options.descriptor is not None:
        return catalog.get(options.descriptor)  # checked by check_options
    mode = "minor" if sheet.key.endswith("minor") else "major"
    return choose_descriptor([catalog.get(n) for n in names], tempo_bpm=float(sheet.tempo_bpm), mode=mode,
                             prefer=rule.subgenres)


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def warp_to_grid(audio: np.ndarray, sr: int, *, beats_s: np.ndarray, origin_s: float, beat_s: float,
                 length: int) -> np.ndarray:
    """``audio`` (mono, at ``sr``) from ``origin_s`` on, stretched beat by beat so that its beats
    fall every ``beat_s`` seconds, trimmed or padded to ``length`` samples."""
    import pedalboard

    start = int(round(max(origin_s, 0.0) * sr))
    x = np.ascontiguousarray(audio[start:], dtype=np.float32)
    periods = np.diff(beats_s)
    pad = int(round(max(-origin_s, 0.0) / float(periods[0]) * beat_s * sr))  # a pickup before the audio began
    if x.size < sr // 10:
        return np.zeros(length, dtype=np.float32)
    mids = (beats_s[:-1] + beats_s[1:]) / 2
    t = start / sr + np.arange(x.size) / sr
    factor = np.interp(t, mids, periods) / beat_s  # >1: the cover is faster here
    y = pedalboard.time_stretch(x[None, :], sr, stretch_factor=np.clip(factor, 0.5, 2.0).astype(np.float64),
                                high_quality=True)[0]
    y = np.r_[np.zeros(pad, dtype=np.float32), y]
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, y.size)] = y[:length]
    return out


def vocal_bus(vocal: np.ndarray, sr: int, band: np.ndarray, rule) -> np.ndarray:
    """The vocal (mono) through the genre's chain (high-pass, presence, compressor, reverb) at
    ``gain_db`` LU over the band's loudness; returned stereo."""
    import pedalboard as pb

    v = rule.vocal
    chain = pb.Pedalboard([pb.HighpassFilter(cutoff_frequency_hz=float(v["highpass_hz"])),
                           pb.PeakFilter(cutoff_frequency_hz=3000.0, gain_db=float(v["presence_db"]), q=0.8),
                           pb.Compressor(threshold_db=float(v["compress_db"]), ratio=3.0, attack_ms=8.0, release_ms=120.0),
                           pb.Reverb(room_size=0.45, wet_level=float(v["reverb_wet"]), dry_level=1.0, width=0.9)])
    stereo = chain(np.ascontiguousarray(np.stack([vocal, vocal]), dtype=np.float32), sr)
    meter = pyloudnorm.Meter(sr)
    band_lufs, vocal_lufs = meter.integrated_loudness(band), meter.integrated_loudness(stereo.T)
    if not (np.isfinite(band_lufs) and np.isfinite(vocal_lufs)):
        return np.zeros_like(band)
    return (stereo.T * np.float32(10 ** ((band_lufs + float(v["gain_db"]) - vocal_lufs) / 20))).astype(np.float32)


def _with_vocals(track, sheet: LeadSheet, mix: np.ndarray, arr, rule, store, progress, *, scale: float,
                 instrument: str | None = None) -> np.ndarray:
    """The band's mix with the original vocal (re-played by ``instrument`` when given) warped
    onto it (a song beat lasts ``scale`` cover beats)."""
    try:
        stems = separate(track, store=store, progress=progress)
    except SeparationError as exc:
        raise CoverError(f"The original vocals cannot be used: {exc}") from None
    line = _mono(stems["vocals"])
    if instrument is not None:
        try:
            line = timbre_transfer(line, track.sample_rate, instrument=instrument, fit_range=True, store=store)
        except TimbreError as exc:
            raise CoverError(f"The vocal line cannot be re-played on {instrument.replace('_', ' ')}: {exc} "
                             "Let an instrument play the melody instead.") from None
    vocal = librosa.resample(line, orig_sr=track.sample_rate, target_sr=SAMPLE_RATE)
    grid = bar_grid(sheet, scale=scale)
    warped = warp_to_grid(vocal, SAMPLE_RATE, beats_s=grid.beats_s, origin_s=float(grid.bar_times_s()[0]),
                          beat_s=60.0 * scale / arr.tempo_bpm, length=mix.shape[0])
    return mix + vocal_bus(warped, SAMPLE_RATE, mix, rule)


def _midi(arr) -> pretty_midi.PrettyMIDI:
    """The arrangement's MIDI with the drum kit as the drum channel's program."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=arr.tempo_bpm)
    for inst in arr.midi.instruments:
        copy = pretty_midi.Instrument(program=arr.drum_kit if inst.is_drum else inst.program, is_drum=inst.is_drum,
                                      name=inst.name)
        copy.notes, copy.control_changes = list(inst.notes), list(inst.control_changes)
        pm.instruments.append(copy)
    return pm


def source_genre(track, *, store=None) -> str:
    """The catalog genre the real-music model hears most in the original's known windows ('' when
    it cannot tell: no musicnn weights, no genre with a catalog counterpart, all unknown)."""
    try:
        genres = heard_catalog_genres(track, store=store)
    except EmbeddingError:
        return ""
    genres = genres[genres != ""]
    return str(genres.mode().iloc[0]) if len(genres) else ""


def _melody_words(options: CoverOptions, arr) -> str:
    if options.timbre:
        return f"the vocal line on {options.timbre.replace('_', ' ')}"
    if options.keep_vocals:
        return "original vocals"
    return f"GM program {arr.roles['lead'].program}" if "lead" in arr.roles else "none"


def _compute(track, options: CoverOptions, sheet: LeadSheet, report, store, progress) -> Cover:
    check_sheet(sheet, with_melody=not options.sung)
    source = source_genre(track, store=store)
    rule = genre_rule(options.genre, source=source)
    catalog = load_catalog()
    d = _descriptor(options, sheet, catalog, rule)
    tempo, scale = cover_tempo_bpm(float(sheet.tempo_bpm), d, rule)
    if options.tempo_bpm is not None:  # the user's tempo: the song's beat maps to its nearest half, once or double
        tempo = float(options.tempo_bpm)
        scale = min((0.5, 1.0, 2.0), key=lambda f: abs(np.log2(tempo / (f * float(sheet.tempo_bpm)))))
    song = song_from_sheet(sheet, _mono(track.samples), track.sample_rate, rule=rule,
                           with_melody=not options.sung, scale=scale)
    report(0.55, f"Arranging for {d.name.replace('_', ' ')} at {tempo:g} BPM")
    lead = options.melody_program
    if song.melody:
        d = replace(d, mix_db={**d.mix_db, "lead": d.mix_db.get("lead", 0.0) + MELODY_BOOST_DB})
    arr = compose_song(d, song, tempo_bpm=tempo, band=options.band, seed=int(options.seed), lead_program=lead,
                       lead_fallback=rule.melody_program)
    report(0.6, "Synthesising and mixing")
    mix = mix_arrangement(arr, d, sample_rate=SAMPLE_RATE)
    if options.sung:
        report(0.85, f"Fitting the original vocals onto the new band{' as ' + options.timbre if options.timbre else ''}")
        mix = _with_vocals(track, sheet, mix, arr, rule, store, scaled(progress, 0.85, 0.9), scale=scale,
                           instrument=options.timbre)
    report(0.92, "Mastering")
    audio, lufs, peak = master(mix, SAMPLE_RATE, brightness=d.brightness)
    timeline = single_region(d.name, duration_s=arr.duration_s, tempo_bpm=tempo, tonic=song.tonic, band=arr.band,
                             catalog=catalog)
    region = RegionRender("1", d.name, arr.band, tempo, song.tonic, d.mode, 0.0, arr.duration_s, tuple(arr.sections))
    versions = {"studio": __version__, "cover": str(COVER_VERSION), "data": data_fingerprint(),
                **library_versions(*LIBRARIES)}
    render = Render(audio=audio, sample_rate=SAMPLE_RATE, midi=_midi(arr), timeline=timeline, seed=int(options.seed),
                    regions=(region,), loudness_lufs=lufs, peak_dbfs=peak, versions=versions)
    recipe = {"format": "studio-cover", "version": COVER_VERSION, "options": asdict(options),
              "genre": options.genre, "source_genre": source, "descriptor": d.name, "band": arr.band, "tempo_bpm": tempo,
              "source_tempo_bpm": sheet.tempo_bpm, "beats_per_song_beat": scale, "key": sheet.key,
              "bars": len(song.bars), "melody_notes": len(song.melody), "melody": _melody_words(options, arr),
              "approach": rule.approach, "drop": rule.drop, "loudness_lufs": lufs, "peak_dbfs": peak,
              "track_hash": track.content_hash, "warnings": list(sheet.warnings), "versions": versions}
    return Cover(render=render, sheet=sheet, recipe=recipe)


def make_cover(track, *, options: CoverOptions, sheet_options: LeadSheetOptions | None = None, store=None,
               progress=None) -> Cover:
    """A cover of ``track`` (a ``core.audio.load.Track``) in ``options.genre``; see the module
    docstring. With a ``store`` it is kept (and a second call with the same track and options is
    a lookup), linked to the track as a ``cover`` version. CoverError when the song has no pulse,
    no melody (unless the vocal line is kept), is shorter than 10 s, or the genre is unknown."""
    if not isinstance(options, CoverOptions):
        raise OptionError("options must be a CoverOptions.")
    check_options(options)  # an unknown genre or descriptor, a short clip ... are refused before any work
    if track.duration_s < MIN_SONG_S:
        raise CoverError(f"The track is {track.duration_s:.1f} s long; a cover needs at least {MIN_SONG_S:g} s of music.")
    report = progress or (lambda f, m: None)
    sheet_options = sheet_options or LeadSheetOptions()
    key = cover_key(track.content_hash, options, sheet_options)
    if store is not None:
        found, recipe = store.get_render(key), store.get_json(STORE_KIND, key)
        if found is not None and recipe is not None:
            report(1.0, "Loaded from the store")
            return Cover(render=found, sheet=lead_sheet(track, options=sheet_options, store=store), recipe=recipe, key=key)
    report(0.0, "Lead sheet: beats, chords and melody")
    sheet = lead_sheet(track, options=sheet_options, progress=scaled(progress, 0.0, 0.5), store=store)
    sheet = LeadSheet.from_dict(sheet.to_dict())  # as stored (times to 0.1 ms): a stored sheet makes the same cover
    cover = _compute(track, options, sheet, report, store, progress)
    cover = Cover(render=cover.render, sheet=sheet, recipe=cover.recipe, key=key)
    if store is not None:
        store.put_render(cover.render, title=f"Cover in {options.genre} ({cover.recipe['descriptor']})", key=key)
        store.put_json(STORE_KIND, key, cover.recipe)
        store.link_render(track.content_hash, key, kind="cover", label=f"cover_{cover.recipe['descriptor']}")
    report(1.0, "Cover ready")
    return cover
