"""Covers measured: is the cover still the song, is it the target genre, how long does it take.

    nice -n 10 .venv/bin/python bench/covers.py                    # 10 real clips x 3 genres + 4 known songs
    nice -n 10 .venv/bin/python bench/covers.py --clips 4 --songs 2 --out /tmp/covers_bench.json

Real clips (``../shared/datasets/gtzan-dev``): whole 30 s clips of genres with a sung or played
melody (pop, country, disco, rock, blues, reggae), each covered into jazz, rock and hiphop by
:func:`core.covers.cover.make_cover` with the default models. Per cover: the rank of the
original among all the dataset's other whole clips (the cover detector, Qmax; rank 1 = the
original is the closest song), and the real-music genre model's majority over the cover's
windows mapped to the catalog (jazz -> jazz, rock and metal -> rock, hiphop -> hiphop).
Known songs (``core.covers.songs.known_song``): the same, ranked among the other known songs
and the real clips. Seconds of computing per minute of music for the whole cover (lead sheet
included). WAVs of the covers go to ``--wav-dir`` for listening.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from core.audio.load import load_track, read_audio_file, track_from_array
from core.covers.cover import CoverOptions, make_cover
from core.covers.songs import PROGRESSIONS, known_song
from core.errors import StudioError
from core.store.store import Store
from core.workflow.covers import Candidate, cover_score, descriptor_genre

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "gtzan-dev"
SOURCE_GENRES = ("pop", "country", "disco", "rock", "blues", "reggae")
TARGETS = ("jazz", "rock", "hiphop")


def _clips(n: int) -> tuple[list[str], pd.DataFrame]:
    """``n`` whole clips, round robin over the source genres (each genre's first clips first)."""
    labels = pd.read_csv(DATASET / "labels.csv")
    whole = labels[labels["full_clip"] == 1].sort_values("clip")
    chosen = []
    for i in range(n):
        pool = whole[whole["genre"] == SOURCE_GENRES[i % len(SOURCE_GENRES)]]
        if len(pool) > i // len(SOURCE_GENRES):
            chosen.append(str(pool.iloc[i // len(SOURCE_GENRES)]["clip"]))
    return chosen, whole


def _track(store: Store, path: Path):
    return store.add_track(read_audio_file(path), name=path.stem, suffix=path.suffix)


def _candidate(track) -> Candidate:
    return Candidate(track.name, track.samples, track.sample_rate, track.content_hash)


def _one(store, track, genre, pool, wav_dir: Path | None, *, keep_vocals: bool = False, timbre=None) -> dict:
    t0 = time.process_time()
    w0 = time.perf_counter()
    try:
        cover = make_cover(track, options=CoverOptions(genre=genre, keep_vocals=keep_vocals, timbre=timbre),
                           store=store)
    except StudioError as exc:  # refused (no melody, no pulse ...): counted, not ranked
        return {"song": track.name, "genre": genre, "refused": str(exc)}
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - w0
    others = [c for c in pool if c.content_hash != track.content_hash]
    score = cover_score(cover, original=_candidate(track), others=others, store=store)
    if wav_dir is not None:
        sf.write(wav_dir / f"{track.name}_{genre}.wav", cover.render.audio, cover.render.sample_rate)
    by_renders = descriptor_genre(track_from_array(cover.render.audio, cover.render.sample_rate, name="cover"), genre,
                                  store=store)
    return {"song": track.name, "genre": genre, "descriptor": cover.recipe["descriptor"],
            "tempo_bpm": cover.recipe["tempo_bpm"], "source_tempo_bpm": cover.recipe["source_tempo_bpm"],
            "rank": score.rank, "candidates": score.candidates, "nearest_other": score.nearest_other,
            "genre_share": round(score.genre_share, 3), "majority_genre": score.majority_genre,
            "in_genre": score.in_genre, "genre_model": score.genre_model,
            "descriptor_model_share": round(by_renders[0], 3), "descriptor_model_majority": by_renders[1], "cover_cpu_s": round(cpu_s, 1),
            "cover_wall_s": round(wall_s, 1), "minutes": track.duration_s / 60.0}


def _summary(rows: list[dict]) -> dict:
    refused = [r for r in rows if "refused" in r]
    rows = [r for r in rows if "refused" not in r]
    if not rows:
        return {"refused": len(refused)}
    df = pd.DataFrame(rows)
    return {"covers": len(df), "refused": len(refused), "rank1": round(float((df["rank"] == 1).mean()), 3),
            "mean_rank": round(float(df["rank"].mean()), 2), "in_genre": round(float(df["in_genre"].mean()), 3),
            "in_genre_by_target": {g: round(float(d["in_genre"].mean()), 3) for g, d in df.groupby("genre")},
            "descriptor_model_in_genre": round(float((df["descriptor_model_majority"] == df["genre"]).mean()), 3),
            "wall_s_per_min": round(float((df["cover_wall_s"] / df["minutes"]).median()), 1),
            "cpu_s_per_min": round(float((df["cover_cpu_s"] / df["minutes"]).median()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--songs", type=int, default=4)
    ap.add_argument("--store", type=Path, default=None, help="a store folder to reuse (default: a fresh one)")
    ap.add_argument("--wav-dir", type=Path, default=Path("/tmp/covers_bench"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep-vocals", action="store_true", help="covers keep the original (separated) vocals")
    ap.add_argument("--timbre", default=None, help="covers re-play the vocal line on this instrument")
    args = ap.parse_args()
    if not DATASET.is_dir():
        raise SystemExit(f"The dataset folder {DATASET} is not here: see ../shared/datasets/README.md.")
    store = Store(args.store or tempfile.mkdtemp(prefix="covers_bench_"))
    args.wav_dir.mkdir(parents=True, exist_ok=True)
    chosen, whole = _clips(args.clips)
    tracks = {row.clip: _track(store, DATASET / row.file) for row in whole.itertuples()}
    pool = [_candidate(t) for t in tracks.values()]
    real = []
    for clip in chosen:
        for genre in TARGETS:
            real.append(_one(store, tracks[clip], genre, pool, args.wav_dir, keep_vocals=args.keep_vocals, timbre=args.timbre))
            print(json.dumps(real[-1]), flush=True)
    known = []
    progressions = list(PROGRESSIONS)
    songs = [known_song(progression=progressions[i % len(progressions)], bars=12, tempo_bpm=90.0 + 8 * i, seed=i)
             for i in range(args.songs)]
    song_tracks = [load_track(_wav(s), name=f"known_{i}") for i, s in enumerate(songs)]
    song_pool = [_candidate(t) for t in song_tracks] + pool
    for t in song_tracks:
        for genre in TARGETS:
            known.append(_one(store, t, genre, song_pool, args.wav_dir, keep_vocals=args.keep_vocals, timbre=args.timbre))
            print(json.dumps(known[-1]), flush=True)
    result = {"real": _summary(real), "known_songs": _summary(known), "rows": real + known}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=float))


def _wav(song) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, song.audio, song.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
