"""Taste profiles (core.workflow.taste, core.workflow.taste_library, ``python -m core taste``) on
generated songs: a folder with bad files, a zip with hostile entry names, determinism, the cache."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import core.workflow.taste as taste
from core.cli.main import main as cli
from core.covers.songs import known_song
from core.embed.weights import weights_present
from core.plots import taste_distribution_figure, taste_map_figure
from core.store.store import Store
from core.workflow.taste import (
    COLUMNS,
    TasteError,
    TrackTaste,
    build_profile,
    cover_target,
    principal_components,
    profile_library,
    taste_weights,
    track_genre,
)
from core.workflow.taste_library import (
    MAX_ZIP_ENTRIES,
    Library,
    LibraryItem,
    Skipped,
    library_from_paths,
    library_from_uploads,
    library_from_zip,
)
from tests.conftest import ROOT, wav_bytes

needs_weights = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")


@pytest.fixture(scope="module")
def songs() -> dict[str, bytes]:
    """Two 12 s generated songs (WAV bytes) and the bad files a library meets."""
    out = {}
    for name, prog, tempo in (("pop_song.wav", "pop", 118.0), ("jazz_song.wav", "jazz", 96.0)):
        s = known_song(progression=prog, bars=6, tempo_bpm=tempo)
        out[name] = wav_bytes(s.audio, s.sample_rate)
    out["notes.wav"] = b"%PDF-1.5 not a song at all"
    out["silence.wav"] = wav_bytes(np.zeros(22050 * 5, dtype=np.float32), 22050)
    out["blip.wav"] = wav_bytes((0.3 * np.sin(np.arange(22050) * 0.1)).astype(np.float32), 22050)
    return out


def _folder(tmp_path, songs, names):
    folder = tmp_path / "library"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(names):
        (folder / ("sub" if i == 0 else "") / name).write_bytes(songs[name])
    (folder / "cover.jpg").write_bytes(b"\xff\xd8 not audio, not walked")
    return folder


def _row(name: str, probs: dict, *, genre: str, catalog: str) -> TrackTaste:
    return TrackTaste(file=name, content_hash=name, genre=genre, genre_prob=max(probs.values()), catalog_genre=catalog,
                      descriptor="rock_indie_driving", duration_s=30.0, tempo_bpm=120.0, key="A minor", n_windows=11,
                      unknown_share=0.0, genre_probs=probs, embedding=tuple(np.arange(4.0) * len(name)))


# ------------------------------------------------------------------ the rules (no audio)
def test_the_majority_of_windows_decides_and_mostly_unknown_windows_say_unknown():
    table = pd.DataFrame({"p_rock": [0.9, 0.6, 0.2], "p_jazz": [0.1, 0.4, 0.8]})
    heard = track_genre(table, ["rock", "jazz"])
    assert (heard.genre, heard.unknown_share) == ("rock", 0.0)
    assert heard.prob == pytest.approx(np.mean([0.9, 0.6, 0.2]))
    tie = track_genre(pd.DataFrame({"p_rock": [0.9, 0.45], "p_jazz": [0.1, 0.55]}), ["rock", "jazz"])
    assert tie.genre == "rock"  # one window each: the higher mean probability breaks the tie
    flagged = track_genre(table.assign(real_unknown=[True, True, False]), ["rock", "jazz"])
    assert flagged.genre == "unknown" and flagged.prob == pytest.approx(2 / 3)
    silent_first = track_genre(table, ["rock", "jazz"], sounding=np.array([False, False, True]))
    assert silent_first.genre == "jazz"  # only the sounding window counts


def test_cover_targets_follow_the_taste_but_never_the_tracks_own_genre():
    rock = {"rock": 0.7, "metal": 0.1, "pop": 0.15, "blues": 0.05}
    tracks = [_row("a", rock, genre="rock", catalog="rock"), _row("b", rock, genre="rock", catalog="rock"),
              _row("c", {"pop": 0.6, "rock": 0.3, "jazz": 0.1}, genre="pop", catalog="pop")]
    weights = taste_weights(tracks)
    assert weights["rock"] == pytest.approx((0.8 + 0.8 + 0.3) / 3)  # metal counts for the catalog's rock
    assert weights["electronic"] == 0.0 and sum(weights.values()) < 1.0  # blues has no catalog genre
    assert [cover_target(t, weights) for t in tracks] == ["pop", "pop", "rock"]
    profile = build_profile(tracks)
    doc = profile.summary()
    assert doc["library_genre"] == "rock" and doc["cover_targets"][0] == {"genre": "pop", "taste_weight": weights["pop"],
                                                                         "tracks": 2}
    assert "rock" not in [t["genre"] for t in doc["cover_targets"]]
    assert list(profile.table().columns) == list(COLUMNS)
    # a skipped file's row leaves its numbers empty: the page's table converts them (no Arrow fallback)
    import pyarrow as pa

    table = build_profile(tracks, skipped=[Skipped("bad.wav", "not audio")]).table()
    assert table["genre_prob"].isna().tolist() == [False, False, False, True]
    assert pa.Table.from_pandas(table).column("genre_prob").type == pa.float64()
    with pytest.raises(TasteError, match="nothing to profile"):
        build_profile([])


def test_the_map_is_the_same_every_time_and_copes_with_one_or_two_tracks():
    x = np.random.default_rng(0).normal(size=(6, 5))
    a, explained = principal_components(x)
    b, _ = principal_components(x[:, :] * 1.0)
    assert a.shape == (6, 2) and np.array_equal(a, b) and 0 < explained[1] <= explained[0] <= 1
    assert np.allclose(np.abs(a[:, 0]), np.abs((x - x.mean(0)) @ np.linalg.svd(x - x.mean(0))[2][0]))
    assert not principal_components(x[:1])[0].any()
    two, explained = principal_components(x[:2])
    assert two[:, 1].tolist() == [0.0, 0.0] and explained[1] == 0.0


def test_the_charts_draw_a_profile():
    tracks = [_row("a", {"rock": 0.8, "pop": 0.2}, genre="rock", catalog="rock"),
              _row("bb", {"jazz": 0.9, "blues": 0.1}, genre="jazz", catalog="jazz")]
    profile = build_profile(tracks)
    dist = taste_distribution_figure(profile.summary())
    assert len(dist.data) == 3 and "(cover target)" in " ".join(dist.data[1].y)
    points = profile.map_points()
    fig = taste_map_figure(points)
    assert {t.name for t in fig.data} == {"rock", "jazz"} and "variance" in fig.layout.xaxis.title.text


# ------------------------------------------------------------------ inputs
def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_with_hostile_entry_names_is_read_in_memory_under_safe_names(songs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _zip({"../../evil.wav": songs["pop_song.wav"], "/etc/passwd.wav": songs["jazz_song.wav"],
                 "ok/\x1b[31mred\u202e.wav": songs["pop_song.wav"], "inner.zip": _zip({"x.wav": b"x"}),
                 "readme.txt": b"hello", "__MACOSX/._evil.wav": b"\x00\x05\x16\x07", ".DS_Store": b"junk"})
    library = library_from_zip(data, name="../up\nload.zip")
    names = [i.name for i in library.items]
    assert len(names) == 3
    for name in names:
        assert ".." not in name.split("/") and not name.startswith("/") and name.isprintable()
    assert names[0] == "up_load.zip/evil.wav" and names[1] == "up_load.zip/etc/passwd.wav"
    assert [i.read() for i in library.items[:2]] == [songs["pop_song.wav"], songs["jazz_song.wav"]]
    why = {s.file.split("/")[-1]: s.reason for s in library.ignored}
    assert set(why) == {"inner.zip", "readme.txt"} and "unzip it" in why["inner.zip"]
    assert list(tmp_path.iterdir()) == []  # nothing was written anywhere
    monkeypatch.setenv("STUDIO_MAX_FILE_MB", "0.1")  # every song is over a 100 kB limit now
    small = library_from_zip(data)
    assert not small.items and any("up to 0 MB" in s.reason or "unpacks to" in s.reason for s in small.ignored)
    monkeypatch.setattr("core.workflow.taste_library.MAX_ZIP_ENTRIES", 1)
    assert len(library_from_zip(_zip({"a.wav": b"1", "b.wav": b"2"})).items) == 1 and MAX_ZIP_ENTRIES > 1


def test_folders_are_walked_and_uploads_may_be_zips(songs, tmp_path):
    folder = _folder(tmp_path, songs, ["pop_song.wav", "jazz_song.wav"])
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "x.wav").write_bytes(b"x")
    (folder / "pack.zip").write_bytes(_zip({"blip.wav": songs["blip.wav"]}))
    names = [i.name for i in library_from_paths([folder]).items]
    assert names == ["library/jazz_song.wav", "library/pack.zip/blip.wav", "library/sub/pop_song.wav"]
    uploads = library_from_uploads([("a.wav", b"1"), ("b.zip", _zip({"c.flac": b"2"})), ("broken.zip", b"PK?")])
    assert [i.name for i in uploads.items] == ["a.wav", "b.zip/c.flac"]
    assert uploads.ignored[0].file == "broken.zip" and "not a zip" in uploads.ignored[0].reason


# ------------------------------------------------------------------ the real models
@needs_weights
def test_cli_profiles_a_folder_skips_bad_files_and_reads_the_store_the_second_time(songs, tmp_path, capsys,
                                                                                     monkeypatch):
    folder = _folder(tmp_path, songs, ["pop_song.wav", "jazz_song.wav", "notes.wav", "silence.wav", "blip.wav"])
    out, data = tmp_path / "out", tmp_path / "store"
    assert cli(["taste", str(folder), "--out", str(out), "--data-dir", str(data), "--quiet", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "library/notes.wav" in err and "PDF" in err and "silent" in err and "at least 3 s" in err
    tracks = pd.read_csv(out / "tracks.csv", keep_default_na=False)
    assert list(tracks.columns[:5]) == ["file", "genre", "genre_prob", "catalog_genre", "descriptor"]
    good = tracks[tracks["error"] == ""]
    assert sorted(good["file"]) == ["library/jazz_song.wav", "library/sub/pop_song.wav"]
    assert set(tracks.loc[tracks["error"] != "", "file"]) == {"library/notes.wav", "library/silence.wav",
                                                             "library/blip.wav"}
    assert good["genre_prob"].astype(float).between(0, 1).all() and (good["n_windows"].astype(int) >= 2).all()
    assert all(d.split("_")[0] in taste.catalog_genres() for d in good["descriptor"])
    doc = json.loads((out / "profile.json").read_text())
    assert doc["tracks"] == 2 and len(doc["skipped"]) == 3 and doc["cover_target_rule"]
    assert sum(g["share"] for g in doc["genres"]) == pytest.approx(1.0)
    first = (out / "tracks.csv").read_bytes()
    calls = []
    for name in ("describe", "heard_windows", "load_track"):  # count calls; the real functions still run
        real = getattr(taste, name)
        monkeypatch.setattr(taste, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    assert cli(["taste", str(folder), "--out", str(out), "--data-dir", str(data), "--quiet", "--jobs", "1"]) == 1
    assert calls == [] and (out / "tracks.csv").read_bytes() == first  # every row (and every refusal) stored


@needs_weights
def test_same_library_same_profile_and_nothing_readable_is_exit_2(songs, tmp_path, capsys):
    items = (LibraryItem(name="jazz_song.wav", read=lambda: songs["jazz_song.wav"]),)
    models = taste.load_taste_models()
    one = profile_library(Library(items=items), models=models)
    two = profile_library(Library(items=items), models=models)
    assert one.tracks_csv() == two.tracks_csv() and one.profile_json() == two.profile_json()
    assert one.tracks[0].embedding == two.tracks[0].embedding and len(one.tracks[0].embedding) == 200
    folder = _folder(tmp_path, songs, ["notes.wav", "silence.wav"])
    out = tmp_path / "out"
    assert cli(["taste", str(folder), "--out", str(out), "--no-store", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "notes.wav" in err and "None of the 2 files could be profiled" in err and not out.exists()


@needs_weights
def test_the_taste_page_profiles_an_upload_and_a_stored_track(songs):
    Store().keep(songs["jazz_song.wav"], name="jazz_song", suffix=".wav")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/taste.py").run()
    assert not at.exception and at.title[0].value == "Taste"
    at.file_uploader(key="taste_upload").set_value([("pop_song.wav", songs["pop_song.wav"], "audio/wav"),
                                                    ("bad.zip", _zip({"notes.wav": songs["notes.wav"]}),
                                                     "application/zip")])
    at.checkbox(key="taste_all").check()
    at.run()
    at.button(key="taste_go").click()
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Tracks profiled"] == "2"
    assert any("bad.zip/notes.wav" in w.value for w in at.warning)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Tracks per genre" in s for s in charts) and any("embedding space" in s for s in charts)
    assert {b.proto.label for b in at.get("download_button")} == {"tracks.csv", "profile.json"}
