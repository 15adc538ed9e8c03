"""Stems: split a track into vocals and accompaniment (or Demucs' four stems), play and download each."""

from __future__ import annotations


import streamlit as st

from core import StudioError
from core.audio.load import to_wav_bytes
from core.plots import stems_figure
from core.separation import DEFAULT_MODEL, MODEL_STEMS, MODELS, SeparationOptions, model_availability, separation_key
from core.separation import default_weights_dir
from pages.ui import get_store, keep_upload_as_pick, page_progress, preview_ogg, require_stored_track

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "aiff", "aif"]

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
    c1.warning(f"{model}: {availability[model]}. See the README, section Source separation.")

up = c2.file_uploader("Upload a track", type=AUDIO_TYPES, key="stems_upload")
keep_upload_as_pick(up, store=store, pick_key="stems_pick")

library = store.list_tracks()
if not library:
    st.info("Upload a track (or analyse one on the Analyze page) to separate it.")
    st.stop()
names = {t["content_hash"]: f"{t['name']} ({t['duration_s']:.0f} s)" for t in library}
choices = list(names)
if st.session_state.get("stems_pick") not in choices:
    st.session_state["stems_pick"] = choices[0]
content_hash = st.selectbox("Track", choices, format_func=names.get, key="stems_pick")
track = require_stored_track(content_hash)

options = SeparationOptions(model=model)
key = separation_key(track.content_hash, options, weights_dir=default_weights_dir())
stems = store.get_separation(key)
if stems is None:
    minutes = track.duration_s / 60.0
    st.write(f"**{track.name}**: {track.duration_s:.1f} s. Separating takes about "
             f"{'4' if model == DEFAULT_MODEL else '55'} s per minute of audio on two cores "
             f"(here about {minutes * (4 if model == DEFAULT_MODEL else 55):.0f} s).")
    if not st.button("Separate", type="primary", key="stems_go"):
        st.stop()
    bar, progress = page_progress(f"Separating {track.name} with {model}")
    try:
        stems = store.separation_for(track, options=options, progress=progress)
    except StudioError as exc:
        st.error(str(exc))
        st.stop()
    finally:
        bar.empty()

for note in stems.notes:
    st.caption(note)
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
        st.download_button(f"{name}.wav", to_wav_bytes(audio, stems.sample_rate, subtype="FLOAT"),
                           f"{track.name}_{name}.wav", "audio/wav", key=f"dl-{key}-{name}")
