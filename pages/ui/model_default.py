"""The Models page's default pick: which descriptor model every page starts with."""

from __future__ import annotations

import streamlit as st

from core import StudioError
from core.describe.models import DEFAULT_MODEL_NAME, choose_default, default_model_name
from pages.ui.text import message, plain


def default_model_form(names: list[str]) -> None:
    """A select of the installed models and a button that makes the choice the default of the
    Analyze, Segments, Loop and Taste pages (stored in the data folder: it survives restarts)."""
    st.subheader("Default model")
    current = default_model_name(names)
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Every page starts with", names, index=names.index(current) if current in names else 0,
                        key="default_model_pick",
                        help=f"The studio ships `{DEFAULT_MODEL_NAME}` as the default: it holds on real recordings "
                             "(see the table above) and on the studio's renders.")
    if c2.button("Make default", key="default_model_set", disabled=pick == current):
        try:
            choose_default(pick)
        except StudioError as exc:
            st.error(message(exc))
        else:
            st.success(f"{plain(pick)} is now the default model.")
    st.caption(f"In use now: {plain(default_model_name(names))}.")
