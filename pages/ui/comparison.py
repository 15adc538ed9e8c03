"""The Models page's estimator comparison: the tables ``python -m core compare`` writes, side by side."""

from __future__ import annotations

import streamlit as st

from core import StudioError
from core.describe.compare import comparison_folders, read_comparison
from core.plots import comparison_confusion_figure, comparison_figure
from pages.ui.media import CSV, download
from pages.ui.text import message

SHOWN = {"model": "model", "window_accuracy": "accuracy (window)", "track_accuracy": "accuracy (track)",
         "track_macro_f1": "macro F1 (track)", "track_lrap": "LRAP (track)", "track_coverage": "coverage (track)",
         "train_s": "train s per fold", "predict_ms_per_window": "predict ms / window", "size_bytes": "size (bytes)"}


def _about(split: dict) -> str:
    kind = ("split by render" if split.get("kind") == "render"
            else f"{split.get('folds')} folds grouped by artist (no artist on both sides)")
    sets = "+".join(split.get("feature_sets") or []) or "MFCC / log-mel tiles"
    return (f"{split.get('tracks')} tracks, {split.get('windows', split.get('tiles'))} windows; {kind}; "
            f"features {sets}.")


def comparison_section() -> None:
    """Pick one of the shipped comparisons: its table, a bar chart, a model's confusions, a CSV."""
    folders = comparison_folders()
    st.subheader("Estimators side by side")
    if not folders:
        st.info("No comparison is shipped here. Make one with `python -m core compare --real FOLDER --features "
                "musicnn --out OUT`, then put `OUT/real` in `assets/comparisons/NAME` (see README).")
        return
    names = [f.name for f in folders]
    name = st.selectbox("Comparison", names, key="comparison_pick", format_func=lambda n: n.replace("_", " "))
    try:
        result = read_comparison(folders[names.index(name)])
    except StudioError as exc:
        st.error(message(exc))
        return
    st.caption(_about(result.split))
    table = result.table[[c for c in SHOWN if c in result.table.columns]].rename(columns=SHOWN)
    st.dataframe(table, hide_index=True, key="comparison_table")
    st.plotly_chart(comparison_figure(result.table, title=name.replace("_", " ")), key="comparison_chart")
    download("Comparison CSV", result.table.to_csv(index=False), f"comparison_{name}.csv", CSV, key="comparison_csv")
    models = [m for m in result.table["model"].astype(str) if m in result.confusion]
    if models:
        pick = st.selectbox("Confusions of", models, key="comparison_model")
        st.plotly_chart(comparison_confusion_figure(result.confusion[pick], title=f"{pick}: held-out windows"),
                        key="comparison_confusion")
