"""The Taste page's parts: the library heard track by track with a progress bar each, and the
profile shown (charts, table, cover targets, downloads)."""

from __future__ import annotations

import streamlit as st

from core.describe.models import default_model_name
from core.errors import StudioError
from core.plots import taste_distribution_figure, taste_map_figure
from core.workflow.taste import (
    TasteOptions,
    TasteProfile,
    TrackTaste,
    build_profile,
    load_taste_models,
    taste_or_skip,
)
from core.workflow.taste_library import Library
from pages.ui.media import CSV, JSON, download
from pages.ui.progress import progress_bar
from pages.ui.text import message, plain
from pages.ui.widgets import cached_model


@st.cache_resource(show_spinner=False)
def taste_models():
    """The shipped descriptor and real-music genre models, loaded once per server process."""
    return load_taste_models(TasteOptions(), descriptor=cached_model(default_model_name()))


def profile_with_progress(library: Library, *, store) -> TasteProfile | None:
    """Every track of ``library`` heard under its own progress bar (a track already profiled
    is a lookup), then the profile; None (with a message) when no track could be used."""
    models = taste_models()
    n = len(library.items)
    overall = st.progress(0.0, text=f"Library: {n} tracks")
    results = []
    for i, item in enumerate(library.items):
        overall.progress(i / max(n, 1), text=f"Library: track {i + 1} of {n}")
        with progress_bar(f"{item.name} ({i + 1} of {n})") as progress:
            results.append(taste_or_skip(item, models=models, store=store, progress=progress))
    overall.empty()
    tracks = [r for r in results if isinstance(r, TrackTaste)]
    skipped = [r for r in results if not isinstance(r, TrackTaste)]
    try:
        return build_profile(tracks, skipped=skipped, ignored=library.ignored, models=models)
    except StudioError as exc:
        st.error(message(exc))
        for s in skipped:
            st.caption(f"{plain(s.file)}: {plain(s.reason)}")
        return None


def _skipped_lines(profile: TasteProfile) -> None:
    if profile.skipped:
        lines = "\n".join(f"- **{plain(s.file)}**: {plain(s.reason)}" for s in profile.skipped)
        st.warning(f"{len(profile.skipped)} file(s) could not be profiled and were skipped:\n{lines}")
    if profile.ignored:
        lines = "\n".join(f"- {plain(s.file)}: {plain(s.reason)}" for s in profile.ignored)
        st.caption(f"Left out of the zip(s):\n{lines}")


def show_profile(profile: TasteProfile) -> None:
    """Metrics, what was skipped, the distribution chart and the map, the cover targets, the
    table and the two downloads."""
    summary = profile.summary()
    top = summary["genres"][0]
    targets = summary["cover_targets"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Tracks profiled", summary["tracks"])
    c2.metric("Skipped", len(profile.skipped))
    c3.metric("Mostly", f"{top['genre']} ({top['share']:.0%})")
    c4.metric("Cover target", targets[0]["genre"] if targets else "none")
    _skipped_lines(profile)
    st.plotly_chart(taste_distribution_figure(summary), key="taste-distribution")
    if targets:
        said = ", ".join(f"**{t['genre']}** (taste weight {t['taste_weight']:.2f}; "
                         + (f"the target of {t['tracks']} of its tracks)" if t["tracks"] else "no track's own target)")
                         for t in targets)
        st.markdown(f"Cover targets near this library's taste, other than its own {summary['library_genre'] or 'genre'}: "
                    f"{said}.")
    leans = ", ".join(f"{plain(d['descriptor'])} ({d['share']:.0%})" for d in summary["descriptors"])
    st.caption(f"The descriptors it leans towards (descriptor model {plain(summary['descriptor_model'])}): "
               f"{leans or 'none known'}. Each track's own cover target is in the table.")
    st.plotly_chart(taste_map_figure(profile.map_points()), key="taste-map")
    table = profile.table()
    st.dataframe(table.drop(columns=["content_hash"]), hide_index=True, key="taste-table")
    c1, c2, _ = st.columns([1, 1, 3])
    download("tracks.csv", profile.tracks_csv(), "tracks.csv", CSV, key="taste-dl-csv", where=c1)
    download("profile.json", profile.profile_json(), "profile.json", JSON, key="taste-dl-json", where=c2)
