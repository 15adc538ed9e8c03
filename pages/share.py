"""Share: a stakeholder report (one HTML file that opens offline) of a track or of a project,
and projects that group reference tracks (with their renders, covers and votes)."""

from __future__ import annotations

import streamlit as st

from core.export.report import project_report, track_report
from pages.ui.entry import through_navigation
from pages.ui.share import (
    contents,
    manage_project,
    pick_project,
    project_tracks,
    report_panel,
    show_refusal,
)
from pages.ui.tracks import pick_track
from pages.ui.widgets import get_store

through_navigation()

st.title("Share")
st.caption("A report for the people you work for: one file that opens in any browser, even offline, with the "
           "reference track's charts and form, a player for each of its versions, and what listeners said in "
           "the blind A/B tests. Group tracks in a project to send them in one file.")
store = get_store()
library = store.list_tracks()
if not library:
    st.info("No track in the library yet: upload one on the Analyze page, then come back to share it.")
    st.stop()
show_refusal()
one, grouped = st.tabs(["One track", "A project"])

with one:
    track_hash = pick_track(store, key="share_track", empty="", library=library)
    contents(store, [track_hash])
    report_panel(store, key=f"track_{track_hash[:16]}", label="this track", hashes=[track_hash],
                 build=lambda progress: track_report(store, track_hash, progress=progress))

with grouped:
    project = pick_project(store)
    if project is not None:
        manage_project(store, project)
        hashes = project_tracks(store, project, library)
        if hashes:
            contents(store, hashes)
            report_panel(store, key=f"project_{project}", label=f"the project {project}", hashes=hashes,
                         build=lambda progress: project_report(store, project, progress=progress))
        else:
            st.caption("Add tracks to the project to make its report.")
