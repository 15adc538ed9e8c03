"""Shared page helpers: the store, progress bars, the waveform player. Thin by design.

The page scripts live in pages/views/. Streamlit treats ``pages/*.py`` as old-style pages when
a page URL is opened before app.py has run ``st.navigation`` (right after a server start), so
pages/render.py and pages/models.py are shims that run app.py instead (Analyze is the
default page, at "/").
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import streamlit as st

from core.audio.load import to_ogg_bytes
from core.errors import StudioError
from core.plots import PALETTE
from core.store.store import Store, default_data_dir

COMPONENTS = Path(__file__).resolve().parent


def get_store() -> Store:
    """The Store of the data directory in STUDIO_DATA_DIR (one per directory and process)."""
    return _store_at(str(default_data_dir()))


@st.cache_resource
def _store_at(root: str) -> Store:
    return Store(root)


@st.cache_resource(max_entries=8, show_spinner=False)
def stored_track(content_hash: str):
    """A stored track, decoded once per server process (tracks are immutable by content hash)."""
    return get_store().get_track(content_hash)


def keep_upload_as_pick(upload, *, store: Store, pick_key: str) -> None:
    """Keep a new upload in the store and make it the choice of the keyed track selectbox
    ``pick_key`` (a keyed selectbox follows its state, not a new index). Once per upload, so
    later picks are the user's; a bad file gets its message on the page."""
    if upload is None or st.session_state.get(f"{pick_key}_upload_id") == upload.file_id:
        return
    st.session_state[f"{pick_key}_upload_id"] = upload.file_id
    try:
        st.session_state[pick_key] = store.keep(upload.getvalue(), name=Path(upload.name).stem,
                                                suffix=Path(upload.name).suffix)
    except StudioError as exc:
        st.error(f"{upload.name}: {exc}")


def require_stored_track(content_hash: str, *, hint: str = "upload it again"):
    """The stored track, or a message on the page and the end of this run."""
    try:
        track = stored_track(content_hash)
    except StudioError as exc:
        st.error(f"This track could not be read back from the store: {exc}")
        st.stop()
    if track is None:
        st.error(f"This track's audio is no longer in the store; {hint}.")
        st.stop()
    return track


@st.cache_data(max_entries=12, show_spinner=False)
def render_media(render_key: str) -> dict | None:
    """Everything the page shows of a stored render, encoded once per render."""
    from core.plots import render_figure

    result = get_store().get_render(render_key)
    if result is None:
        return None
    first = result.regions[0]
    bands = ", ".join(dict.fromkeys(r.band for r in result.regions))
    caption = (f"{' > '.join(r.descriptor for r in result.regions)}  \nband *{bands}* · seed {result.seed} · "
               f"{first.tempo_bpm:.0f} BPM · {first.tonic} {first.mode} · {result.loudness_lufs:.1f} LUFS")
    return {"caption": caption, "ogg": to_ogg_bytes(result.audio, result.sample_rate), "wav": result.wav_bytes(),
            "midi": result.midi_bytes(), "timeline": result.timeline.to_json(), "figure": render_figure(result),
            "stem": f"{first.descriptor}_seed{result.seed}"}


@st.cache_resource(max_entries=6, show_spinner=False)
def cached_model(name: str):
    """A descriptor model, loaded once per server process."""
    from core.describe.models import load_model

    return load_model(name)


def page_progress(label: str):
    """A Streamlit progress bar and a ``progress(fraction, message)`` callback feeding it."""
    bar = st.progress(0.0, text=label)

    def progress(fraction: float, message: str = "") -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=f"{label}: {message}" if message else label)

    return bar, progress


@st.cache_data(show_spinner=False, max_entries=16)
def preview_ogg(content_hash: str, _samples: np.ndarray, sample_rate: int) -> bytes:
    """Compact OGG Vorbis of a track for in-browser players (cached by content hash)."""
    return to_ogg_bytes(_samples, sample_rate)


def waveform_peaks(samples: np.ndarray, n: int = 1200) -> list[list[float]]:
    """(min, max) per pixel column of the mono mix, scaled to the track's peak."""
    y = samples.mean(axis=1) if samples.ndim == 2 else samples
    if y.size == 0:
        return [[0.0, 0.0]]
    n = max(1, min(n, y.size))
    edges = np.linspace(0, y.size, n + 1).astype(int)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    peak = max(float(np.max(np.abs(y))), 1e-9)
    return np.round(np.stack([lo, hi], axis=1) / peak, 3).tolist()


def waveform_player(track, segments, *, height: int = 205) -> None:
    """The waveform player with coloured segment regions and a playhead (an iframe)."""
    ogg = preview_ogg(track.content_hash, track.samples, track.sample_rate)
    labels = list(dict.fromkeys(segments["label"]))
    config = {
        "audio_url": "data:audio/ogg;base64," + base64.b64encode(ogg).decode(),
        "duration_s": track.duration_s,
        "peaks": waveform_peaks(track.samples),
        "segments": segments[["start_s", "end_s", "label"]].to_dict(orient="records"),
        "labels": labels,
        "palette": PALETTE,
    }
    html = (COMPONENTS / "waveform_player.html").read_text().replace("__CONFIG__", json.dumps(config))
    st.iframe(html, height=height)


def multi_player(versions: list[dict], *, segments=None, blind: bool = False, height: int | None = None) -> dict:
    """The synchronised multi-version player (an iframe): one transport, switch versions at the
    same position, each version at its loudness-matching gain, loop a segment.

    ``versions``: dicts with ``key`` (a cache key for the encoded audio: a content hash or a
    version id), ``label``, ``samples`` ((n, channels) float), ``sample_rate`` and ``gain_db``.
    ``segments``: a DataFrame of the reference's segments (start_s, end_s, label), drawn as
    regions to loop. ``blind``: no waveforms (their shapes could give the versions away).
    Returns the config the player was given, without the audio (for tests and captions).
    """
    segs = [] if segments is None else segments[["start_s", "end_s", "label"]].to_dict(orient="records")
    entries = []
    for v in versions:
        ogg = preview_ogg(v["key"], v["samples"], v["sample_rate"])
        entries.append({"label": str(v["label"]), "gain_db": float(v["gain_db"]),
                        "duration_s": v["samples"].shape[0] / float(v["sample_rate"]),
                        "peaks": None if blind else waveform_peaks(v["samples"], n=900),
                        "audio_b64": base64.b64encode(ogg).decode()})
    config = {
        "versions": entries,
        "duration_s": max((e["duration_s"] for e in entries), default=0.0),
        "segments": [{"start_s": float(s["start_s"]), "end_s": float(s["end_s"]), "label": str(s["label"])}
                     for s in segs],
        "labels": list(dict.fromkeys(str(s["label"]) for s in segs)),
        "palette": PALETTE,
        "blind": bool(blind),
    }
    payload = json.dumps(config).replace("<", "\\u003c")  # labels are user text: no </script> inside
    html = (COMPONENTS / "multi_player.html").read_text().replace("__CONFIG__", payload)
    width_px = sum(7.5 * len(e["label"]) + 95 for e in entries)  # the version buttons wrap at ~900 px
    st.iframe(html, height=height or 200 + 40 * (1 + int(width_px // 900)))
    return {**config, "versions": [{k: e[k] for k in ("label", "gain_db", "duration_s")} for e in entries]}
