"""Analyze: what models trained on real music hear (core.embed.hear), a lane of its own under
the descriptor predictions; a picker chooses the model: the shipped GTZAN-10 one or one you
trained on your own examples (Models page, ``python -m core train-folder``)."""

from __future__ import annotations

import streamlit as st

from core.describe.folder import list_real_models
from core.embed.genre import EMBED_MODEL
from core.embed.hear import real_music_windows
from core.embed.weights import weights_present
from core.errors import StudioError
from core.plots import real_genre_figure
from pages.ui.media import CSV, download
from pages.ui.progress import progress_bar
from pages.ui.text import message, plain

STAGE = "real-music genre"


def real_music_lane(track, analysis, *, store) -> None:
    """The genre heatmap, the table of windows (genre, catalog genre, tags) and its CSV."""
    st.subheader("What models trained on real music hear")
    if not weights_present(EMBED_MODEL):
        st.info("The musicnn weights are not installed, so the real-music genre and tags are off. `make run` "
                "fetches them (see the README, Real-music tags).")
        return
    choice = _model_choice(track, store=store)
    try:
        with progress_bar(f"Listening to {track.name} with musicnn", store=store, stage=STAGE,
                          audio_s=track.duration_s) as progress:
            table = real_music_windows(track, analysis, store=store, progress=progress, model_dir=choice.folder)
    except StudioError as exc:
        st.error(f"Real-music genre: {message(exc)}")
        return
    counts = table["real_genre"].value_counts(normalize=True)
    st.caption(f"Mostly **{plain(counts.index[0])}** ({counts.iloc[0]:.0%} of the windows). {_about(choice)} The "
               "descriptor predictions above learnt from the studio's renders.")
    st.plotly_chart(real_genre_figure(table, duration_s=analysis.duration_s), key=f"realgenre-{track.content_hash}")
    shown = table[["start_s", "end_s", "real_genre", "real_genre_prob", "catalog_genre", "tags"]]
    st.dataframe(shown, hide_index=True, height=220, key=f"realtable-{track.content_hash}")
    download("Real-music genre and tags CSV", table.to_csv(index=False, float_format="%.4g"),
             f"{track.name}_real_music.csv", CSV, key=f"dlreal-{track.content_hash}")


def _model_choice(track, *, store):
    """The picker: the shipped model, then yours (``<data dir>/real_models``)."""
    choices = {str(c.folder): c for c in list_real_models(data_dir=store.root)}
    picked = st.selectbox("Real-music model", list(choices), format_func=lambda k: choices[k].title(),
                          key=f"realmodel-{track.content_hash}",
                          help="Train your own on the Models page (\"Train on your own examples\").")
    return choices[picked]


def _about(choice) -> str:
    if choice.shipped:
        return ("A genre model trained on 168 real GTZAN clips (about 6 in 10 clips right on artists it never "
                "heard).")
    right = f", {choice.track_accuracy:.0%} of its tracks right in cross-validation" if choice.track_accuracy else ""
    return f"Your model {plain(choice.name)} ({len(choice.labels)} labels{right})."
