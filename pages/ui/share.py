"""The Share page's widgets: the project picker (create, rename, delete), the project's track
list, what a report will hold, and the "make the report, then download it" panel."""

from __future__ import annotations

import time

import streamlit as st

from core.errors import StudioError
from core.export.report import report_audio_s, report_contents
from core.store.projects import MAX_PROJECT_NAME_CHARS
from pages.ui.media import download
from pages.ui.progress import with_progress
from pages.ui.text import message, plain
from pages.ui.tracks import track_label

#: The stage name the report's making is timed under (its estimate on this machine).
EXPORT_STAGE = "export"
_ERROR = "share_error"


def _guarded(action, *args, select: bool = False) -> None:
    """Run a store action from a button's callback; its refusal is shown on the next run.
    ``select``: the action returns a project's name, which the picker then shows."""
    try:
        result = action(*args)
    except StudioError as exc:
        st.session_state[_ERROR] = message(exc)
        return
    if select:
        st.session_state["share_project"] = result


def show_refusal() -> None:
    """The message of the last refused action (a name already taken, an empty name), once."""
    if error := st.session_state.pop(_ERROR, None):
        st.error(error)


def pick_project(store) -> str | None:
    """A "New project" field and button, then the project picker (name and track count); None
    when there is no project yet."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input("New project", key="share_new_name", max_chars=MAX_PROJECT_NAME_CHARS,
                    placeholder="e.g. Coffee brand spot, spring")
    right.button("Create project", key="share_create", width="stretch",
                 on_click=lambda: _guarded(store.create_project, st.session_state.get("share_new_name", ""),
                                           select=True))
    projects = {p["name"]: p for p in store.projects()}
    if not projects:
        st.info("No project yet: give one a name above (a client, a brief), then add tracks to it.")
        return None
    if st.session_state.get("share_project") not in projects:
        st.session_state["share_project"] = next(iter(projects))
    return st.selectbox("Project", list(projects), key="share_project",
                        format_func=lambda n: f"{n} ({projects[n]['tracks']} track"
                                              f"{'s' if projects[n]['tracks'] != 1 else ''})")


def manage_project(store, name: str) -> None:
    """Rename or delete the project (an expander)."""
    with st.expander("Rename or delete this project"):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        left.text_input("New name", value=name, key="share_rename", max_chars=MAX_PROJECT_NAME_CHARS)
        right.button("Rename", key="share_rename_button", width="stretch",
                     on_click=lambda: _guarded(store.rename_project, name, st.session_state.get("share_rename", ""),
                                               select=True))
        st.button("Delete this project", key="share_delete", on_click=_guarded, args=(store.delete_project, name),
                  help="The project's list goes; its tracks, renders and votes stay in the library.")


def _save_tracks(store, name: str, before: list[str]) -> None:
    chosen = st.session_state.get(f"share_tracks_{name}", [])
    for h in [h for h in dict.fromkeys([*chosen, *before]) if (h in chosen) != (h in before)]:
        _guarded(store.add_track_to_project if h in chosen else store.remove_track_from_project, name, h)


def project_tracks(store, name: str, library: list[dict]) -> list[str]:
    """The project's tracks (a multiselect over the library, kept as it changes); their hashes."""
    current = store.project_tracks(name)
    labels = {t["content_hash"]: track_label(t) for t in library}
    key = f"share_tracks_{name}"
    if key not in st.session_state:
        st.session_state[key] = [h for h in current if h in labels]
    st.multiselect("Tracks in this project", list(labels), key=key, format_func=labels.get,
                   on_change=_save_tracks, args=(store, name, current), placeholder="Choose tracks from the library")
    return store.project_tracks(name)


def contents(store, hashes: list[str]) -> None:
    """What the report will hold: per track, analysed or not, versions, votes and listeners."""
    table = report_contents(store, hashes)
    st.dataframe(table, hide_index=True, column_config={
        "versions": st.column_config.NumberColumn(help="renders and covers linked to the track: each gets a player"),
        "votes": st.column_config.NumberColumn(help="blind A/B votes on the Listen page")})
    if (table["analysed"] != "yes").any():
        st.caption("A track not analysed yet appears without its charts: open it on Analyze first to include them.")


def report_panel(store, *, key: str, label: str, hashes: list[str], build) -> None:
    """"Make the report" (under a progress bar), then its download button with its size.
    ``build(progress)`` returns the :class:`core.export.report.Report`; ``key`` names this report."""
    state_key = f"share_report_{key}"
    if st.button("Make the report", key=f"share_make_{key}", type="primary",
                 help="Encodes every player's audio into one HTML file that opens offline in a browser."):
        report = with_progress(f"Making the report of {label}", build, error="The report could not be made: ",
                               stop=False, store=store, stage=EXPORT_STAGE, audio_s=report_audio_s(store, hashes))
        if report is not None:
            st.session_state[state_key] = (report, time.strftime("%H:%M"))
    if state_key not in st.session_state:
        st.caption("Make the report to download it: one HTML file with charts, form, players, votes and notes.")
        return
    report, made_at = st.session_state[state_key]
    download("Download stakeholder report (HTML)", report.html.encode("utf-8"), report.file_name(), "text/html",
             key=f"share_download_{key}")
    st.caption(plain(f"Made at {made_at}: {report.size_words()}. Make it again after new renders or votes."))
    for what in report.missing:
        st.warning(plain(what))
