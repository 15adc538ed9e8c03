"""Stems: split a track into vocals and accompaniment (or Demucs' four stems), play and download each."""

from __future__ import annotations

import streamlit as st

from core import StudioError
from core.audio.load import to_wav_bytes
from core.plots import stems_figure
from core.separation import (
    DEFAULT_MODEL,
    MODEL_STEMS,
    MODELS,
    SeparationOptions,
    default_weights_dir,
    model_availability,
    separate,
    separation_key,
)
from pages.ui.entry import through_navigation
from pages.ui.media import download, preview_ogg
from pages.ui.progress import progress_bar
from pages.ui.text import message, plain
from pages.ui.tracks import pick_track, upload_track
from pages.ui.widgets import get_store, require_stored_track

through_navigation()

#: Seconds of separation per minute of audio on two cores, per kind of model.

st.title("Stems")
st.caption(
    "Split a track into its parts. The default model (Spleeter's 2-stem U-Net, running here in torch) "
    "gives vocals and accompaniment that add back up to the original exactly; Demucs gives drums, bass, "
    "other and vocals, from weights in weights/demucs or downloaded on first use where there is internet."
)
store = get_store()
availability = model_availability()


def model_label(name: str) -> str:
    stems = ", ".join(MODEL_STEMS[name])
    return f"{name} ({stems})" + ("" if not availability[name] else " - weights not installed")


c1, c2 = st.columns([2, 1])
model = c1.selectbox("Model", MODELS, index=MODELS.index(DEFAULT_MODEL), format_func=model_label, key="stems_model")
if availability[model]:
    c1.warning(f"{model}: {message(availability[model])}. See the README, section Source separation.")
    with c1.expander("Where the model files go"):
        st.markdown("Put the downloaded `.th` files in the `weights/demucs` folder of the studio, then reload "
                    "this page.", help="Whoever runs the studio can keep the files elsewhere: set STUDIO_WEIGHTS_DIR "
                                       "to a folder whose demucs subfolder holds them.")
upload_track("Upload a track", store=store, key="stems_upload", pick_key="stems_pick", where=c2)
content_hash = pick_track(store, key="stems_pick", empty="Upload a track (or analyse one on the Analyze page) to "
                                                        "separate it.")
track = require_stored_track(content_hash)

options = SeparationOptions(model=model)
key = separation_key(track.content_hash, options, weights_dir=default_weights_dir())
stems = store.get_separation(key)
if stems is None:
    estimate = store.estimate(f"separate {model}", audio_s=track.duration_s)
    st.write(f"**{plain(track.name)}**: {track.duration_s:.1f} s. Separating it takes "
             f"{estimate.words() if estimate else 'a time measured on the first run here (the bar says the time left)'}.")
    if not st.button("Separate", type="primary", key="stems_go"):
        st.stop()
    try:
        with progress_bar(f"Separating {track.name} with {model}", store=store, stage=f"separate {model}",
                          audio_s=track.duration_s) as progress:
            stems = separate(track, options=options, store=store, progress=progress)
    except StudioError as exc:
        st.error(message(exc))
        st.stop()

for note in stems.notes:
    st.caption(plain(note))
st.plotly_chart(stems_figure(track.samples, stems.stems, sample_rate=stems.sample_rate), key=f"stemsfig-{key}")
st.subheader("Listen")
cols = st.columns(len(stems.names) + 1)
with cols[0]:
    st.markdown("**mixture**")
    st.audio(preview_ogg(track.content_hash, track.samples, track.sample_rate), format="audio/ogg")
for col, name in zip(cols[1:], stems.names):
    audio = stems[name]
    with col:
        st.markdown(f"**{name}**")
        st.audio(preview_ogg(f"{key}-{name}", audio, stems.sample_rate), format="audio/ogg")
        download(f"{name}.wav", to_wav_bytes(audio, stems.sample_rate, subtype="FLOAT"), f"{track.name}_{name}.wav",
                 "audio/wav", key=f"dl-{key}-{name}")
