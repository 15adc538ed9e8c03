"""The Render page's descriptor picker: browse by genre, subgenre and mood, or search."""

from __future__ import annotations

import streamlit as st

from core.plots import describe_levels


def pick_descriptor(catalog, *, keep: dict, disabled: bool) -> str:
    """The chosen descriptor's name; its labels in one line below (valence and momentum as words,
    the numbers on hover). ``keep``: the widgets' persistence options; ``disabled``: a timeline
    file sets the descriptors."""
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
    return name
