"""Models: how well each descriptor classifier does, where it errs, and what it hears as close."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import StudioError
from core.describe.models import TARGETS, list_models
from core.describe.study import (
    STUDY_COLUMN,
    accuracy_table,
    descriptors_of_genres,
    distance_table,
    real_music_table,
    training_note,
)
from core.generate.catalog import load_catalog
from core.plots import confusion_figure, distance_figure, embedding_figure, metrics_figure
from pages.ui.comparison import comparison_section
from pages.ui.entry import through_navigation
from pages.ui.media import CSV, download
from pages.ui.model_default import default_model_form
from pages.ui.text import message, plain
from pages.ui.train_folder import train_folder_form
from pages.ui.widgets import cached_model

through_navigation()

PUBLISHED = "Published figures"  # the study is named in the docs, not on the page


def _end() -> None:
    """The page ends early (nothing to compare): the training form still comes last."""
    train_folder_form()
    st.stop()


st.title("Models")
st.caption("The descriptor classifiers, measured on renders they never saw in training (split by render, "
           "never by window). Compare them, look at their confusions, and see which descriptors sit close.")

names = list_models()
if not names:
    st.info("No models yet. Make a corpus and train one: `python -m core corpus --per-descriptor 6 --out "
            "build/corpus` then `python -m core train --corpus build/corpus --estimator mlp` (see README).")
    _end()
chosen = st.multiselect("Models to compare", names, default=names, key="models_chosen")
models = []
for n in chosen:
    try:
        models.append(cached_model(n))
    except StudioError as exc:
        st.error(f"{plain(n)}: {message(exc)}")
if not models:
    _end()

st.subheader("Accuracy on held-out renders")
st.dataframe(accuracy_table(models).rename(columns={STUDY_COLUMN: PUBLISHED}).style.format("{:.3f}"),
             key="metrics_table")
st.plotly_chart(metrics_figure(models), key="metrics_chart")
st.caption("Window: every 10 s window on its own. Render: the majority of a render's windows. "
           f"{PUBLISHED}: what the original research's classifiers scored on its own one-style renders.")
real = real_music_table(models)
if len(real):
    st.subheader("On real recordings")
    st.dataframe(real, hide_index=True, key="real_table")
    st.caption("Majority genre per real clip whose genre maps onto the catalog; the renders' figures above say "
               "little about a real record.")
comparison_section()
default_model_form(names)
with st.expander("Training details"):
    for m in models:
        st.markdown(training_note(m))

st.subheader("Confusions")
c1, c2 = st.columns(2)
model_name = c1.selectbox("Model", [m.name for m in models], key="confusion_model")
target = c2.selectbox("Target", TARGETS, key="confusion_target")
model = next(m for m in models if m.name == model_name)
st.plotly_chart(confusion_figure(model, target), key="confusion_chart")
with st.expander("Classification report"):
    st.dataframe(pd.DataFrame(model.metrics[target]["report"]).T.style.format("{:.3f}"), key="report_table")

if model.extras:
    st.subheader("The windows, mapped")
    method = st.radio("Projection", ["tsne", "pca"], horizontal=True, key="map_method",
                      format_func=lambda m: "t-SNE" if m == "tsne" else "PCA")
    st.plotly_chart(embedding_figure(model, method=method), key="map_chart")

    st.subheader("Which descriptors sit close")
    genres = sorted(load_catalog().tree())
    chosen_genres = st.multiselect("Genres", genres, default=genres[:2], key="distance_genres")
    subset = descriptors_of_genres(model, genres=chosen_genres)
    if subset:
        st.plotly_chart(distance_figure(model, names=subset), key="distance_chart")
        download("Distance matrix CSV", distance_table(model, names=subset).to_csv(),
                 f"{model.name}_descriptor_distances.csv", CSV, key="distance_csv")

train_folder_form()
