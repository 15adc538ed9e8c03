"""Shared fixtures: a private data directory per test and ground-truth audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# `make test` runs two pytest-xdist workers. librosa's numba functions cache their compiled code
# (cache=True) beside the package; two fresh processes compiling and writing the same cache files
# at once can load a half-written one and crash (seen on a clean checkout). Each worker, and the
# app servers its browser tests start, gets its own cache folder; set before numba is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["NUMBA_CACHE_DIR"] = str(Path(os.environ.get("NUMBA_CACHE_DIR") or ROOT / "build" / "numba-cache")
                                        / os.environ["PYTEST_XDIST_WORKER"])


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    """No test reads or writes the user's real store."""
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "studio-data"))


@pytest.fixture(scope="session")
def abac_piece():
    """An A B A C form at 96 BPM in D minor (8 bars a section, 80 s), rendered once."""
    from core.generate.groundtruth import form_track

    return form_track(form="ABAC", tempo_bpm=96.0, tonic="D", mode="minor", bars_per_section=8, seed=0)


@pytest.fixture(scope="session")
def abac_analysis(abac_piece):
    import core

    audio, sr, _ = abac_piece
    return core.analyze(core.track_from_array(audio, sr, name="abac"))


def wav_bytes(y: np.ndarray, sr: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()
