"""The Render page's descriptor picker: browse by genre, subgenre and mood, or search."""

from __future__ import annotations

import streamlit as st

from core.generate.render import render
from core.plots import describe_levels
from core.workflow.variations import PREVIEW_S, PREVIEW_SEED, preview_timeline
from pages.ui.media import preview_ogg
from pages.ui.progress import with_progress


def pick_descriptor(catalog, *, keep: dict, disabled: bool, store) -> str:
    """The chosen descriptor's name; its labels in one line below (valence and momentum as words,
    the numbers on hover). ``keep``: the widgets' persistence options; ``disabled``: a timeline
    file sets the descriptors. A button renders a short preview of it (kept in ``store``)."""
    tree, off = catalog.tree(), {"disabled": disabled, **keep}
    how = st.radio("Choose by", ["Browse", "Search"], horizontal=True, key="pick_mode", label_visibility="collapsed",
                   **off)
    if how == "Browse":
        genre = st.selectbox("Genre", sorted(tree), key="genre", **off)
        subgenre = st.selectbox("Subgenre", sorted(tree[genre]), key="subgenre", **off)
        mood = st.selectbox("Mood", tree[genre][subgenre], key="mood", **off)
        name = f"{genre}_{subgenre}_{mood}"
    else:
        query = st.text_input("Search descriptors", "", key="search", placeholder="e.g. upbeat corporate, sad piano",
                              **off)
        matches = catalog.search(query) if query else catalog.names()
        if not matches:
            near = catalog.suggest(query.replace(" ", "_"))
            st.warning("No descriptor matches." + (f" Near: {', '.join(near)}" if near else ""))
            st.stop()
        name = st.selectbox(f"{len(matches)} descriptors", matches, key="search_pick",
                            format_func=lambda n: f"{n} · {catalog.describe(n)}", **off)
    d = catalog.get(name)
    words, numbers = describe_levels(valence=d.valence, momentum=d.momentum)
    st.markdown(f"**{d.name}** · {catalog.describe(name)}",
                help=f"sentiment {d.sentiment} · {words} · {d.mode} · groove {d.groove} · {numbers}")
    _preview(name, catalog=catalog, store=store)
    return name


def _preview(name: str, *, catalog, store) -> None:
    """A short clip of the descriptor, rendered on request once and kept in the store (then it
    plays at once whenever the descriptor is picked again in this session)."""
    heard = st.session_state.setdefault("previewed", [])
    if name not in heard and not st.button(f"Hear a {PREVIEW_S:.0f} s preview", key=f"preview-{name}"):
        return
    if name not in heard:
        heard.append(name)
    result = with_progress(f"Rendering a preview of {name}", lambda progress: render(
        preview_timeline(name, catalog=catalog), seed=PREVIEW_SEED, progress=progress, store=store), stop=False,
        store=store, stage="render", audio_s=PREVIEW_S)
    if result is not None:
        st.audio(preview_ogg(f"preview-{name}", result.audio, result.sample_rate), format="audio/ogg")
