"""Check the torch musicnn port against the original TensorFlow code.

Two steps (TensorFlow never enters the project's environment):

1. Once, in a throwaway TensorFlow environment, with the unpacked musicnn wheel::

       python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf_keras librosa
       unzip musicnn-0.1.0-py3-none-any.whl -d /tmp/mnn
       TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python bench/musicnn_reference.py --tf /tmp/mnn \
           --out tests/data/musicnn_reference.npz

   This builds the original graph (musicnn/models.py, ``tf.compat.v1``), restores the wheel's
   checkpoints exactly as musicnn/extractor.py does, and stores the tag probabilities and the
   first penultimate values of the generated clips below.

2. In the project's environment::

       .venv/bin/python bench/musicnn_reference.py

   runs ``core.embed.musicnn`` on the same clips and prints the largest differences.

The clips are numpy signals with a fixed seed (tone, chord, noise, click train), 3.5 s at
16 kHz, so both steps see identical audio. The log-mel input is computed the same way in both
(the original ``batch_data``, with librosa's reflect padding as musicnn's librosa had).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 16000
N_EMB_KEPT = 32  # penultimate values kept per patch in the reference file (keeps it a few KB)
MODELS = ("MTT_musicnn", "MSD_musicnn")
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "musicnn_reference.npz"
GTZAN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gtzan-dev"


def reference_clips() -> dict[str, np.ndarray]:
    """Four deterministic 3.5 s clips (one patch each) at 16 kHz (float32, peak below 1)."""
    rng = np.random.default_rng(14)
    t = np.arange(int(3.5 * SR)) / SR
    env = np.minimum(1.0, t * 20) * np.exp(-0.1 * t)
    chord = sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in (261.63, 329.63, 392.0))
    clicks = np.zeros_like(t)
    for start in np.arange(0, 3.5, 0.25):
        i = int(start * SR)
        n = min(800, clicks.size - i)
        clicks[i : i + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / 120.0)
    clips = {
        "tone_a440": 0.4 * np.sin(2 * np.pi * 440 * t) * env,
        "chord_c_major": 0.15 * chord * env,
        "pink_ish_noise": np.cumsum(rng.standard_normal(t.size)) * 0.002,
        "click_train": 0.5 * clicks,
    }
    out = {}
    for name, y in clips.items():
        y = y - np.mean(y)
        out[name] = (0.9 * y / max(1e-9, np.max(np.abs(y)))).astype(np.float32)
    return out


def batch_data(y: np.ndarray) -> np.ndarray:
    """musicnn/extractor.py ``batch_data`` on an array (non-overlapping 187-frame patches)."""
    import librosa

    rep = librosa.feature.melspectrogram(y=y, sr=SR, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect").T
    # The original writes ``np.log10(10000 * rep.astype(np.float16) + 1)``. Under numpy 1.x (its era)
    # the python int 10000 promoted float16 to float32; numpy 2 keeps float16, which overflows to inf
    # above 6.55. Rounding to float16 and computing in float32 is what the original computed.
    rep = np.log10(10000 * rep.astype(np.float16).astype(np.float32) + 1)
    starts = range(0, rep.shape[0] - 187 + 1, 187)
    return np.stack([rep[s : s + 187] for s in starts]).astype(np.float32)


def run_tensorflow(wheel_dir: Path, model: str, batches: dict[str, np.ndarray]) -> dict[str, tuple]:
    """The original graph and checkpoint: (tag probabilities, penultimate) per clip."""
    import tensorflow as tf

    sys.path.insert(0, str(wheel_dir))
    from musicnn import models as mnn_models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, *_, penultimate = mnn_models.define_model(x, is_training, model, 50)
        probs = tf.nn.sigmoid(y)
    out = {}
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, str(wheel_dir / "musicnn" / model) + "/")
        for name, batch in batches.items():
            out[name] = tuple(sess.run([probs, penultimate], feed_dict={x: batch, is_training: False}))
    return out


def make_reference(wheel_dir: Path, dest: Path) -> None:
    batches = {name: batch_data(y) for name, y in reference_clips().items()}
    arrays = {}
    for model in MODELS:
        for name, (probs, pen) in run_tensorflow(wheel_dir, model, batches).items():
            arrays[f"{model}/{name}/tags"] = probs.astype(np.float32)
            arrays[f"{model}/{name}/emb"] = pen[:, :N_EMB_KEPT].astype(np.float32)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, **arrays)
    print(f"wrote {dest} ({dest.stat().st_size} bytes, {len(arrays)} arrays)")


def compare(reference: Path = REFERENCE) -> dict[str, tuple[float, float]]:
    """model -> (max |tag difference|, max |penultimate difference|) over all clips and patches."""
    from core.embed.musicnn import embed

    ref = np.load(reference)
    worst = {}
    for model in MODELS:
        d_tag, d_emb = [], []
        for name, y in reference_clips().items():
            res = embed(y, SR, model=model)
            d_tag.append(np.max(np.abs(res.tags - ref[f"{model}/{name}/tags"])))
            d_emb.append(np.max(np.abs(res.embedding[:, :N_EMB_KEPT] - ref[f"{model}/{name}/emb"])))
        worst[model] = (float(np.max(d_tag)), float(np.max(d_emb)))  # np.max keeps a NaN visible
    return worst


def gtzan_table(folder: Path = GTZAN, *, per_genre: int = 1) -> None:
    """Top-3 tags of both models for the first whole clip(s) of each genre, and the time per minute."""
    import csv
    import time

    import soundfile as sf

    from core.embed.musicnn import embed, load_musicnn

    if not (folder / "labels.csv").is_file():
        print(f"{folder} is absent: no real-music check")
        return
    rows = [r for r in csv.DictReader(open(folder / "labels.csv")) if r["full_clip"] == "1"]
    picked = [r for g in sorted({r["genre"] for r in rows}) for r in [x for x in rows if x["genre"] == g][:per_genre]]
    for model in MODELS:
        load_musicnn(model)
    seconds = {m: 0.0 for m in MODELS}
    audio_s = 0.0
    print("| clip | genre | MTT_musicnn top 3 | MSD_musicnn top 3 |\n|---|---|---|---|")
    for r in picked:
        y, sr = sf.read(folder / r["file"], dtype="float32")
        audio_s += len(y) / sr
        cells = []
        for model in MODELS:
            t0 = time.perf_counter()
            res = embed(y, sr, model=model)
            seconds[model] += time.perf_counter() - t0
            cells.append(", ".join(f"{tag} {p:.2f}" for tag, p in res.top_tags(3)))
        print(f"| {r['clip']} | {r['genre']} | {cells[0]} | {cells[1]} |")
    for model in MODELS:
        print(f"{model}: {seconds[model] / audio_s * 60:.2f} s per minute of audio ({audio_s:.0f} s of audio)")


#: GTZAN genres with a matching MSD_musicnn tag (blues, classical, disco, reggae have none or only loose ones).
GENRE_TAGS = {"blues": {"blues"}, "country": {"country"}, "hiphop": {"Hip-Hop"}, "jazz": {"jazz"},
              "metal": {"metal", "heavy metal"}, "pop": {"pop"}, "rock": {"rock", "classic rock", "hard rock"}}


def genre_tag_hits(folder: Path = GTZAN) -> None:
    """How often MSD_musicnn's top-1 / top-3 tags name the genre, over every whole dev clip of GENRE_TAGS."""
    import csv

    import soundfile as sf

    from core.embed.musicnn import embed

    rows = [r for r in csv.DictReader(open(folder / "labels.csv")) if r["full_clip"] == "1" and r["genre"] in GENRE_TAGS]
    hits = {g: [0, 0, 0] for g in GENRE_TAGS}  # clips, top-1 hits, top-3 hits
    for r in rows:
        y, sr = sf.read(folder / r["file"], dtype="float32")
        top = [tag for tag, _ in embed(y, sr, model="MSD_musicnn").top_tags(3)]
        h = hits[r["genre"]]
        h[0] += 1
        h[1] += top[0] in GENRE_TAGS[r["genre"]]
        h[2] += bool(set(top) & GENRE_TAGS[r["genre"]])
    for g, (n, t1, t3) in hits.items():
        print(f"{g}: {n} clips, genre tag top-1 {t1}, top-3 {t3}")
    n, t1, t3 = (sum(h[i] for h in hits.values()) for i in range(3))
    print(f"all: {n} clips, top-1 {t1 / n:.2f}, top-3 {t3 / n:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tf", type=Path, default=None, help="unpacked musicnn wheel: compute the TF reference")
    ap.add_argument("--out", type=Path, default=REFERENCE)
    ap.add_argument("--gtzan", action="store_true", help="also tag one whole GTZAN dev clip per genre")
    ap.add_argument("--genre-tags", action="store_true", help="also count MSD genre tags on all whole dev clips")
    args = ap.parse_args(argv)
    if args.tf is not None:
        make_reference(args.tf, args.out)
        return 0
    for model, (d_tag, d_emb) in compare(args.out).items():
        print(f"{model}: max |tag prob diff| {d_tag:.2e}, max |penultimate diff| {d_emb:.2e}")
    if args.gtzan:
        gtzan_table()
    if args.genre_tags:
        genre_tag_hits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
