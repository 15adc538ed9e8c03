"""The render engine: catalog, composer, synthesis and mastering, and renders obeying timelines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter

import mir_eval
import numpy as np
import pretty_midi
import pytest

import core
from core.generate.catalog import CatalogError, load_catalog
from core.generate.compose import ComposeOptions, compose
from core.generate.render import render
from core.generate.timeline import load_timeline, multi_region, single_region
from core.store.store import Store
from tests.conftest import ROOT

CAT = load_catalog()


# ------------------------------------------------------------------------- catalog
def test_catalog_size_genres_and_balance():
    assert len(CAT) >= 120
    tree = CAT.tree()
    for genre in ("cinematic", "documentary", "electronic", "hiphop", "pop", "rock", "folk", "jazz"):
        assert 1 <= len(tree[genre]) <= 4
    counts = Counter(d.sentiment for d in CAT.descriptors.values())
    for s in ("positive", "neutral", "negative"):
        assert 0.25 <= counts[s] / len(CAT) <= 0.42, counts
    d = CAT.get("cinematic_percussion_primal_pulsing")
    assert (d.genre, d.subgenre, d.mood, d.sentiment) == ("cinematic", "percussion", "primal_pulsing", "negative")
    assert 20 <= d.tempo_bpm[0] < d.tempo_bpm[1] <= 200 and d.bands and d.progressions


def test_unknown_descriptor_suggests_near_names():
    with pytest.raises(CatalogError, match="Did you mean.*cinematic_percussion"):
        CAT.get("cinematic_percusion_primal")


def test_invalid_catalog_entry_is_reported_by_name(tmp_path):
    raw = json.loads((ROOT / "assets" / "catalog.json").read_text())
    raw["genres"]["rock"]["subgenres"]["indie"]["tempo_bpm"] = [150, 260]
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="rock_indie.*tempo"):
        load_catalog(str(bad))
    raw = json.loads((ROOT / "assets" / "catalog.json").read_text())
    raw["genres"]["jazz"]["subgenres"]["bossa"]["moods"].append("euphoric")
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="jazz_bossa_euphoric.*euphoric"):
        load_catalog(str(bad))
    raw = json.loads((ROOT / "assets" / "catalog.json").read_text())
    raw["moods"]["fun"]["articulation"] = "bouncy"
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="fun.*articulation"):
        load_catalog(str(bad))
    raw["moods"]["fun"]["articulation"] = "staccato"
    raw["moods"]["fun"]["harmonic_rhythm"] = 3
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="fun.*chords per bar"):
        load_catalog(str(bad))
    raw["moods"]["fun"]["harmonic_rhythm"] = 2
    raw["articulations"]["legato"]["length"] = 5
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="articulations/legato.*length"):
        load_catalog(str(bad))
    raw["articulations"]["legato"]["length"] = 1.1
    raw["momentum"]["drums_db"] = [0, 0, 0, 0]
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="momentum.*5 values"):
        load_catalog(str(bad))
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(str(bad))


# ---------------------------------------------------------------------- soundfont
# unpitched or bell-like (inharmonic) programs: checked for sound, not for pitch
PERCUSSIVE = {47, 55, 98, 112, 114, 115, 116, 117, 118, 119, 14, 8, 10, 9, 13, 108, 11, 12}


def used_programs() -> dict[int, str]:
    out = {}
    for d in CAT.descriptors.values():
        for band in d.bands.values():
            for role, prog in band.items():
                if prog is not None and role != "drums":
                    out.setdefault(prog, role)
    return out


def test_every_instrument_the_catalog_uses_sounds_at_pitch():
    """The GM soundfont has holes (an alto-sax key range that is silent, a detuned whistle):
    every program a band uses must sound, and pitched ones at the written pitch."""
    import librosa

    from core.generate.synth import render_midi

    bad = []
    for prog, role in sorted(used_programs().items()):
        notes = (36, 43) if role == "bass" else (55, 67, 76)
        for pitch in notes:
            pm = pretty_midi.PrettyMIDI()
            inst = pretty_midi.Instrument(prog)
            inst.notes.append(pretty_midi.Note(100, pitch, 0, 0.8))
            pm.instruments.append(inst)
            y = render_midi(pm, sr=22050, tail_s=0.1).mean(axis=1)
            if np.abs(y).max() < 1e-3:
                bad.append((prog, pitch, "silent"))
                continue
            if prog in PERCUSSIVE:
                continue
            f0 = librosa.yin(y[2000:15000], fmin=30, fmax=2000, sr=22050)
            got = librosa.hz_to_midi(np.median(f0))
            off = abs((got - pitch + 6) % 12 - 6)  # octave errors of the pitch tracker are fine
            if off > 0.6:  # the accordion is detuned by design (musette)
                bad.append((prog, pitch, round(float(got), 1)))
    assert not bad, bad


# ------------------------------------------------------------------------ composer
def roles_in(arr, t0, t1):
    return {name for name, inst in arr.roles.items() if any(t0 <= n.start < t1 for n in inst.notes)}


def test_form_intro_climax_ending():
    d = CAT.get("rock_indie_driving")
    arr = compose(d, duration_s=60, tempo_bpm=120, tonic="E", seed=3,
                  options=ComposeOptions(intro_s=8, ending_s=4, climax_at=0.6))
    names = [s.name for s in arr.sections]
    assert names[0] == "intro" and names[-1] == "ending" and "climax" in names and "build" in names
    intro = roles_in(arr, 0, 8 - 0.05)  # humanised timing may put a downbeat a few ms early
    climax = next(s for s in arr.sections if s.name == "climax")
    full = roles_in(arr, climax.start_s, climax.end_s)
    assert full == set(arr.roles) and len(intro) < len(full)
    assert abs(climax.start_s / 60 - 0.6) < 0.2
    # the ending resolves: the last chord is the tonic triad with the tonic in the bass
    last_bass = max(arr.roles["bass"].notes, key=lambda n: n.start)
    assert last_bass.pitch % 12 == core.analysis.key.PITCH_CLASSES.index("E")
    last_start = max(n.start for n in arr.roles["harmony"].notes)
    final = {n.pitch % 12 for n in arr.roles["harmony"].notes if n.start == last_start}
    assert final <= {4, 7, 11} and 4 in final  # E minor triad (driving = minor)
    assert all(n.end <= 60 + 1e-6 for inst in arr.midi.instruments for n in inst.notes)


def test_same_seed_same_music_other_seed_other_music():
    d = CAT.get("jazz_bossa_romantic")
    a = compose(d, duration_s=20, tempo_bpm=130, tonic="F", seed=5)
    b = compose(d, duration_s=20, tempo_bpm=130, tonic="F", seed=5)
    c = compose(d, duration_s=20, tempo_bpm=130, tonic="F", seed=6)

    def notes(arr):
        return [(i.name, n.pitch, round(n.start, 4), n.velocity) for i in arr.midi.instruments for n in i.notes]

    assert notes(a) == notes(b)
    assert notes(a) != notes(c)


def test_the_drum_kit_travels_with_the_arrangement_to_the_synthesiser():
    """The band's GM drum kit is a field of the arrangement and a parameter of the synthesiser,
    not an attribute stuck on a pretty_midi object."""
    from core.generate.render import _jobs
    from core.generate.synth import render_midi

    d = CAT.get("electronic_synthwave_driving")
    band = next(b for b in sorted(d.bands) if d.bands[b]["drums"])
    arr = compose(d, duration_s=8, tempo_bpm=110, tonic="A", seed=1, band=band)
    assert arr.drum_kit == d.bands[band]["drums"] != 0
    assert not hasattr(arr.roles["drums"], "drum_kit")
    drums = [job for role, job in _jobs(arr, 22050) if role == "drums"]
    assert drums and drums[0][2] == arr.drum_kit
    pm = pretty_midi.PrettyMIDI()
    pm.instruments = [arr.roles["drums"]]
    assert not np.allclose(render_midi(pm, sr=22050, drum_kit=arr.drum_kit), render_midi(pm, sr=22050, drum_kit=0))
    no_drums = next((b for b in sorted(d.bands) if d.bands[b]["drums"] is None), None)
    if no_drums:
        assert compose(d, duration_s=4, tempo_bpm=110, tonic="A", band=no_drums).drum_kit == 0


def test_momentum_drives_density_and_valence_drives_mode():
    calm = CAT.get("electronic_synthwave_brooding")  # momentum 1
    busy = CAT.get("electronic_synthwave_driving")  # momentum 4
    assert busy.momentum > calm.momentum

    def onsets(d):
        arr = compose(d, duration_s=40, tempo_bpm=110, tonic="A", seed=1, band="retro_polysynth")
        return sum(len(i.notes) for i in arr.midi.instruments) / 40

    assert onsets(busy) > 1.3 * onsets(calm)
    assert CAT.get("pop_corporate_uplifting").mode == "major" and CAT.get("pop_corporate_melancholic").mode == "minor"


def test_labels_are_audible_by_rule():
    """Sentiment picks the scale family, valence the register, and the moods of a subgenre
    never share every audible trait (else no listener or model could tell them apart)."""
    major = {(0, 2, 4, 5, 7, 9, 11), (0, 2, 4, 6, 7, 9, 11), (0, 2, 4, 5, 7, 9, 10)}
    dorian = (0, 2, 3, 5, 7, 9, 10)
    for d in CAT.descriptors.values():
        if d.sentiment == "positive":
            assert d.scale in major, d.name
        elif d.sentiment == "neutral":
            assert d.scale == dorian, d.name
        else:
            assert d.scale[2] == 3 and d.scale[5] == 8, d.name  # minor third and minor sixth
        assert d.register == {0: -5, 1: 0, 2: 7}[d.valence], d.name
    for genre, subs in CAT.tree().items():
        for sub, moods in subs.items():
            traits = [CAT.get(f"{genre}_{sub}_{m}") for m in moods]
            sig = [(d.sentiment, d.valence, d.momentum, d.scale, d.progressions, d.articulation, d.harmonic_rhythm)
                   for d in traits]
            assert len(set(sig)) == len(sig), f"{genre}_{sub}"


def _harmony_notes(name, **kw):
    arr = compose(CAT.get(name), duration_s=40, tempo_bpm=100, tonic="C", seed=3, **kw)
    return arr, arr.roles["harmony"].notes


def test_articulation_sets_note_lengths():
    # a legato mood against a staccato one at the same tempo: the comping notes' lengths
    beat_s = 60 / 100
    _, legato = _harmony_notes("rock_post_rock_triumphant")
    _, short = _harmony_notes("rock_indie_angry")
    assert CAT.get("rock_post_rock_triumphant").articulation == "legato"
    assert CAT.get("rock_indie_angry").articulation == "staccato"
    med = lambda ns: float(np.median([n.end - n.start for n in ns]))  # noqa: E731
    assert med(short) < 0.5 * beat_s < med(legato)


def test_harmonic_rhythm_sets_chord_changes_per_bar():
    def changes_per_bar(name):
        arr, notes = _harmony_notes(name)
        bar_s = 4 * 60 / 100
        onsets = sorted({round(n.start, 2) for n in notes})
        sets = [frozenset(n.pitch % 12 for n in notes if abs(n.start - t) < 0.05) for t in onsets]
        body = [(t, s) for t, s in zip(onsets, sets) if 2 * bar_s <= t < 40 - 3 * bar_s]
        changes = sum(1 for (_, a), (_, b) in zip(body, body[1:]) if a != b)
        return changes / ((body[-1][0] - body[0][0]) / bar_s)

    fast, one, slow = CAT.get("pop_dance_happy"), CAT.get("pop_dance_celebratory"), CAT.get("jazz_bossa_romantic")
    assert (fast.harmonic_rhythm, one.harmonic_rhythm, slow.harmonic_rhythm) == (2.0, 1.0, 0.5)
    assert changes_per_bar(fast.name) > 1.4
    assert 0.75 <= changes_per_bar(one.name) <= 1.3
    assert changes_per_bar(slow.name) < 0.75


def test_two_chords_a_bar_keep_the_parts_musical():
    """The bass starts its pattern on each chord's root, a melody note is never re-struck as a
    blip at the change, fast leads survive, and no instrument overlaps a pitch with itself."""
    from core.generate.harmony import parse_chord

    d = CAT.get("jazz_swing_happy")  # walking bass, two chords a bar
    assert d.harmonic_rhythm == 2.0
    arr = compose(d, duration_s=30, tempo_bpm=140, tonic="C", seed=0)
    bar_s, beat_s = 4 * 60 / 140, 60 / 140
    roots = {(0 + parse_chord(c).root) % 12 for p in d.progressions for c in p}
    on_change = [n for n in arr.roles["bass"].notes
                 if abs(((n.start % bar_s) - 2 * beat_s)) < 0.05 and 2 * bar_s < n.start < 24]
    assert on_change and all(n.pitch % 12 in roots for n in on_change)
    harmony = arr.roles["harmony"].notes
    for n in on_change:  # the bass lands on a tone of the chord struck at the change
        chord = {h.pitch % 12 for h in harmony if abs(h.start - n.start) < 0.06}
        assert not chord or n.pitch % 12 in chord, (n, chord)
    for name, tempo in (("electronic_techno_exciting", 200), ("electronic_tropical_house_melancholic", 110)):
        arr = compose(CAT.get(name), duration_s=30, tempo_bpm=tempo, tonic="C", seed=0)
        lead = arr.roles["lead"].notes
        assert sum(1 for n in lead if 8 < n.start < 20) > 8, name
        for inst in arr.roles.values():
            by_pitch = {}
            for n in inst.notes:
                by_pitch.setdefault(n.pitch, []).append(n)
            for notes in by_pitch.values():
                assert all(a.end <= b.start + 1e-6 for a, b in zip(notes, notes[1:])), (name, inst.name)


def test_the_melody_stays_in_the_key_at_every_register():
    """High and low valence move the lead by scale steps, never into another key: every lead
    note is a tone of the scale or of a chord the piece plays (the lead used to follow the
    scale of the dominant in high and low registers)."""
    from core.generate.harmony import parse_chord, styled

    # high register (valence 2) and low (valence 0), all with motif leads; each of them played
    # notes outside the key with the old register shift, on both seeds
    for name in ("pop_dance_happy", "electronic_tropical_house_fun", "rock_indie_angry",
                 "cinematic_percussion_tense", "hiphop_trap_angry"):
        d = CAT.get(name)
        allowed = set(d.scale)
        for c in [c for p in d.progressions for c in p] + ["V", "i" if d.mode == "minor" else "I"]:
            ch = parse_chord(c)
            allowed |= {(ch.root + i) % 12 for i in styled(ch, d.chord_style, d.mode)}
        for seed in (0, 1):
            arr = compose(d, duration_s=30, tempo_bpm=float(np.mean(d.tempo_bpm)), tonic="D", seed=seed)
            degrees = Counter((n.pitch - 2) % 12 for n in arr.roles["lead"].notes)
            assert d.register != 0 and d.lead_style != "arpeggio"
            assert sum(degrees.values()) > 20 and set(degrees) <= allowed, \
                (name, d.register, sorted(set(degrees) - allowed))


# -------------------------------------------------------------------------- render
@pytest.fixture(scope="module")
def pop_render():
    return render(single_region("pop_corporate_uplifting", duration_s=20, tempo_bpm=112, tonic="D"), seed=4)


def test_render_is_mastered_and_reproducible(pop_render):
    r = pop_render
    assert r.audio.shape == (20 * 44100, 2) and r.sample_rate == 44100
    assert abs(r.loudness_lufs + 14) < 0.5
    assert r.peak_dbfs <= -0.9 and np.abs(r.audio).max() < 1.0
    again = render(r.timeline, seed=4)
    assert np.array_equal(r.audio, again.audio)
    other = render(r.timeline, seed=5)
    assert not np.allclose(r.audio, other.audio)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(r.midi_bytes()))
    assert sum(len(i.notes) for i in midi.instruments) > 100
    assert r.versions["render"] and r.regions[0].band in CAT.get("pop_corporate_uplifting").bands


@pytest.mark.parametrize(
    "name,tempo,tonic",
    [("pop_corporate_uplifting", 112, "D"), ("rock_indie_driving", 138, "E"),
     ("electronic_synthwave_driving", 108, "A"), ("hiphop_trap_dark", 146, "F"),
     ("cinematic_percussion_determined", 96, "D"), ("folk_acoustic_hopeful", 92, "G"),
     ("documentary_idiophonic_curious", 104, "C"), ("jazz_noir_mysterious", 76, "C")],
)
def test_render_obeys_its_timeline(name, tempo, tonic):
    r = render(single_region(name, duration_s=30, tempo_bpm=tempo, tonic=tonic), seed=1)
    a = core.analyze(core.track_from_array(r.audio, r.sample_rate))
    assert abs(a.tempo_bpm / tempo - 1) < 0.02, a.tempo_bpm
    assert a.tonic == tonic, a.key
    # most windows hear the key; a middle that dwells on the subdominant may be heard there (jazz
    # noir at seed 1: 6 of 11 windows; over 24 renders, 3 seeds, 0.94-0.96 of the windows are right)
    windows = a.windows.tonic
    assert windows.value_counts().idxmax() == tonic and (windows == tonic).mean() >= 0.5, list(windows)


def test_multi_region_changes_are_found_by_the_segmentation():
    t = multi_region([
        dict(start_s=0, end_s=24, descriptor="cinematic_ambient_sad", tempo_bpm=72, tonic="D"),
        dict(start_s=24, end_s=48, descriptor="rock_indie_driving", tempo_bpm=132, tonic="A"),
        dict(start_s=48, end_s=72, descriptor="jazz_bossa_relaxed", tempo_bpm=120, tonic="F"),
    ])
    r = render(t, seed=2)
    assert [x.descriptor for x in r.regions] == [x.descriptor for x in t.regions]
    a = core.analyze(core.track_from_array(r.audio, r.sample_rate))
    ref = np.array([[0, 24], [24, 48], [48, 72]], dtype=float)
    est = a.segments[["start_s", "end_s"]].to_numpy()
    _, _, f3 = mir_eval.segment.detection(ref, est, window=3, trim=True)
    assert f3 >= 0.8, a.segments


def test_every_descriptor_renders():
    failures = []
    for i, name in enumerate(CAT.names()):
        d = CAT.get(name)
        try:
            r = render(single_region(name, duration_s=3, tempo_bpm=d.default_tempo_bpm,
                                     tonic=core.analysis.key.PITCH_CLASSES[i % 12]), seed=i)
            assert r.audio.shape[0] == 3 * 44100 and np.isfinite(r.audio).all()
            assert np.abs(r.audio).max() > 0.01
        except Exception as exc:  # collect them all, report once
            failures.append(f"{name}: {exc!r}")
    assert not failures, failures


# ---------------------------------------------------------------- store and CLI
def test_renders_are_stored_and_found_again(tmp_path):
    t = single_region("folk_americana_happy", duration_s=8, tempo_bpm=120, tonic="G")
    store = Store(tmp_path / "data")
    first = render(t, seed=9, store=store)
    calls = []
    again = render(t, seed=9, progress=lambda f, m: calls.append(m), store=Store(tmp_path / "data"))
    assert calls == ["Loaded from the store"]
    assert np.abs(first.audio - again.audio).max() < 1e-6  # 24-bit FLAC round trip
    assert again.regions[0].descriptor == "folk_americana_happy" and again.timeline == t
    assert store.list_renders()[0]["seed"] == 9


def test_cli_render(tmp_path):
    out, mid = tmp_path / "o.wav", tmp_path / "o.mid"
    proc = subprocess.run([sys.executable, "-m", "core", "render", str(ROOT / "assets/examples/timeline_single.json"),
                           "-o", str(out), "--midi", str(mid), "--seed", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    track = core.load_track(out)
    assert abs(track.duration_s - load_timeline(ROOT / "assets/examples/timeline_single.json").duration_s) < 0.01
    assert pretty_midi.PrettyMIDI(str(mid)).instruments
    bad = tmp_path / "bad.json"
    bad.write_text('{"timeline": {"spans": [{"time": 0, "type": "metered", "tempo": 500}]}}')
    proc = subprocess.run([sys.executable, "-m", "core", "render", str(bad), "-o", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "actions" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_seeds_are_refused_clearly():
    t = single_region("pop_corporate_happy", duration_s=3, tempo_bpm=110, tonic="C")
    with pytest.raises(core.OptionError, match="seed"):
        render(t, seed=-1)
    proc = subprocess.run([sys.executable, "-m", "core", "render", str(ROOT / "assets/examples/timeline_single.json"),
                           "-o", "/tmp/never.wav", "--seed", "-3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "seed" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_render_to_an_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "core", "render", str(ROOT / "assets/examples/timeline_single.json"),
                           "-o", str(blocker / "out.wav"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "Cannot write" in proc.stderr and "Traceback" not in proc.stderr


def test_damaged_stored_render_is_rendered_again(tmp_path):
    t = single_region("rock_indie_fun", duration_s=4, tempo_bpm=120, tonic="A")
    store = Store(tmp_path / "data")
    render(t, seed=1, store=store)
    for f in (tmp_path / "data" / "renders").glob("*.flac"):
        f.write_bytes(b"not flac")
    assert store.get_render(store.list_renders()[0]["render_key"]) is None
    again = render(t, seed=1, store=store)
    assert again.audio.shape[0] == 4 * 44100


def test_cache_key_follows_the_data_files(tmp_path, monkeypatch):
    from core.generate import render as render_module

    t = single_region("rock_indie_fun", duration_s=4, tempo_bpm=120, tonic="A")
    before = render_module.render_key(t, seed=1)
    monkeypatch.setattr(render_module, "data_fingerprint", lambda: "other-catalog")
    assert render_module.render_key(t, seed=1) != before


def test_malformed_catalog_shapes_are_catalog_errors(tmp_path):
    raw = json.loads((ROOT / "assets" / "catalog.json").read_text())
    raw["genres"]["rock"]["subgenres"]["indie"]["tempo_bpm"] = [100]
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(CatalogError):
        load_catalog(str(bad))


def test_parts_stay_in_their_instruments_range():
    from core.generate.levels import instrument_ranges

    d = CAT.get("documentary_minimal_sad")
    arr = compose(d, duration_s=30, tempo_bpm=80, tonic="E", seed=2, band="harp_and_cello")
    ranges = instrument_ranges()
    for inst in arr.midi.instruments:
        if inst.is_drum or inst.program not in ranges:
            continue
        low, high = ranges[inst.program]
        assert all(low <= n.pitch <= high for n in inst.notes), (inst.name, inst.program)
    assert min(n.pitch for n in arr.roles["bass"].notes) >= 36  # the cello's low C


# ------------------------------------------------------------------ MIDI, levels, mix
def test_the_exported_midi_carries_the_drum_kit(tmp_path):
    d = CAT.get("electronic_synthwave_driving")
    band = next(b for b in sorted(d.bands) if d.bands[b]["drums"])
    r = render(single_region(d.name, duration_s=6, tempo_bpm=110, tonic="A", band=band), seed=1)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(r.midi_bytes()))
    drums = [i for i in midi.instruments if i.is_drum]
    assert drums and all(i.program == d.bands[band]["drums"] != 0 for i in drums)


def test_levels_belong_to_the_soundfont_by_content(tmp_path, monkeypatch):
    from core.generate import levels
    from core.generate.synth import default_soundfont

    default = levels.levels_key()
    assert levels.load_levels()["soundfont_hash"] == default  # the committed table is the default's
    other = tmp_path / "other.sf2"
    other.write_bytes(default_soundfont().read_bytes() + b"\0")  # another file: another key
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(other))
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(levels, "measure_levels", lambda soundfont=None: {
        "version": levels.TABLE_VERSION, "soundfont_hash": levels.file_fingerprint(soundfont),
        "programs": {"0": {"mid": -3.0}}, "kits": {}})
    assert levels.levels_key() != default
    assert levels.program_level_db(0, "mid") == -3.0  # measured for this soundfont, not the default's
    assert levels.levels_cache_path(levels.levels_key()).is_file()


def test_levels_are_measured_with_each_roles_phrase():
    from core.generate import levels

    # a soft, short comped chord is quieter than the same program's sustained loud triad would be,
    # and a pad's five held voices are louder than one lead line on the same program
    assert levels.phrase_level_db(89, "pad") > levels.phrase_level_db(89, "lead") + 2
    table = levels.load_levels()
    assert set(table["programs"]["0"]) == {"low", "mid", "high"} and "harmony" in table["roles"]["0"]


def test_the_mix_is_stereo_and_reproducible(pop_render):
    mid, side = pop_render.audio.sum(axis=1) / 2, (pop_render.audio[:, 0] - pop_render.audio[:, 1]) / 2
    assert np.sum(side**2) / np.sum(mid**2) >= 0.12  # measured 0.24 at 45 s (was <= 0.04 before the mix)
    again = render(pop_render.timeline, seed=4)
    assert np.array_equal(pop_render.audio, again.audio)
    mono = pop_render.audio.mean(axis=1)
    assert np.abs(mono).max() > 0.1


def test_sidechain_ducks_after_each_kick():
    from core.generate.mix import duck_envelope

    g = duck_envelope(44100, [0.25, 0.75], sr=44100, depth_db=6.0, release_ms=100)
    assert g[0] == 1.0 and abs(20 * np.log10(g[int(0.256 * 44100)]) + 6) < 0.3
    assert g[int(0.7 * 44100)] > 0.98


def test_malformed_mix_rules_name_the_field(tmp_path):
    from core.errors import StudioError
    from core.generate.mix import MIX_RULES_PATH, load_mix_rules

    raw = json.loads(MIX_RULES_PATH.read_text())
    raw["roles"]["pad"]["width"] = 3
    bad = tmp_path / "mix_rules.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(StudioError, match="roles/pad/width"):
        load_mix_rules(str(bad))
    raw = json.loads(MIX_RULES_PATH.read_text())
    raw["genres"]["rock"]["eq"][0]["type"] = "wah"
    bad.write_text(json.dumps(raw))
    with pytest.raises(StudioError, match="genres/rock/eq/0/type"):
        load_mix_rules(str(bad))
    del raw["genres"]["rock"]["compressor"]
    raw["genres"]["rock"]["eq"][0]["type"] = "peak"
    bad.write_text(json.dumps(raw))
    with pytest.raises(StudioError, match="genres/rock/compressor"):
        load_mix_rules(str(bad))
    bad.write_text("{nope")
    with pytest.raises(StudioError, match="not valid JSON"):
        load_mix_rules(str(bad))


def test_the_section_gain_lifts_the_climax_and_swells_into_it():
    from core.generate.mix import load_mix_rules, section_gain

    rules = load_mix_rules()
    auto = rules.automation
    sr, bar_s = 1000, 2.0
    g = section_gain([0.7, 0.7, 1.0, 0.7], bar_s=bar_s, n=int(4 * bar_s * sr), sr=sr, rules=rules)
    db = 20 * np.log10(g)
    assert abs(db[int(0.5 * bar_s * sr)]) < 1e-6  # the body at 0 dB
    assert abs(db[int(2.5 * bar_s * sr)] - auto.lift_db) < 1e-3 and auto.lift_db >= 3  # the climax lifted
    swell = db[int(bar_s * sr):int(2 * bar_s * sr)]
    assert np.all(np.diff(swell) >= 0) and swell[len(swell) // 2] > 0.3 * auto.lift_db  # a build, not a jump
    assert abs(db[int((3 * bar_s + auto.fall_s + 0.05) * sr)]) < 1e-3  # the fall is quick
    quiet = section_gain([0.0, 0.0], bar_s=bar_s, n=100, sr=sr, rules=rules)
    assert np.allclose(20 * np.log10(quiet), auto.floor_db)  # never under the floor
    assert np.array_equal(section_gain([], bar_s=bar_s, n=10, sr=sr, rules=rules), np.ones(10, np.float32))


def test_malformed_automation_names_the_field(tmp_path):
    from core.errors import StudioError
    from core.generate.mix import MIX_RULES_PATH, load_mix_rules

    raw = json.loads(MIX_RULES_PATH.read_text())
    raw["automation"]["lift_db"] = 40
    bad = tmp_path / "mix_rules.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(StudioError, match="automation/lift_db"):
        load_mix_rules(str(bad))
    del raw["automation"]
    bad.write_text(json.dumps(raw))
    with pytest.raises(StudioError, match="automation"):
        load_mix_rules(str(bad))


def test_the_arrangement_carries_each_bars_intensity_for_the_section_gain():
    d = CAT.get("rock_indie_driving")
    arr = compose(d, duration_s=60, tempo_bpm=120, tonic="E", seed=3,
                  options=ComposeOptions(intro_s=8, ending_s=4, climax_at=0.6))
    assert len(arr.bar_intensity) == 30 and max(arr.bar_intensity) == 1.0
    climax = next(s for s in arr.sections if s.name == "climax")
    assert arr.bar_intensity[int(climax.start_s // 2.0) + 1] == 1.0 > arr.bar_intensity[0]


def test_the_lead_develops_its_motif_and_no_part_clicks():
    # issue 15: a lead of one one-bar cell repeated is a loop; the lead develops its motif over
    # a period, and a staccato part plays short notes, not 70 ms blips
    from core.generate.compose import MIN_DETACHED_S

    d = CAT.get("rock_indie_angry")
    assert d.articulation == "staccato"
    arr = compose(d, duration_s=45, tempo_bpm=120, tonic="E", seed=3)
    bar_s = 2.0
    rhythms = {}
    for n in arr.roles["lead"].notes:
        bar = int((n.start + 0.05) // bar_s)
        rhythms.setdefault(bar, []).append(round(((n.start + 0.05) % bar_s) / 0.125))
    assert len({tuple(r) for r in rhythms.values()}) >= 6
    for role in ("bass", "harmony", "lead"):
        lengths = [n.end - n.start for n in arr.roles[role].notes]
        assert np.median(lengths) >= MIN_DETACHED_S - 0.01, role


def test_the_motifs_developments_keep_its_bar():
    from core.generate.compose import PERIOD, _motif

    for rate in (0.375, 1.0, 2.0):
        developments = _motif(np.random.default_rng(7), rate)
        assert len(developments) == 6 and max(PERIOD) < len(developments)
        for notes in developments:
            starts = [b for b, _, _ in notes]
            assert starts == sorted(starts) and all(0 <= b < 4 and ln > 0 and b + ln <= 4 + 1e-9 for b, ln, _ in notes)
        assert len({tuple((b, ln) for b, ln, _ in m) for m in developments}) >= 4  # other rhythms, not one cell
