"""The Listen page's widgets: the versions' names (and renaming them), loudness-matched versions,
the blind test's listener name, note and vote buttons, and the votes' summary per listener."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.plots import vote_figure
from core.store.history import MAX_LISTENER_CHARS, MAX_NOTE_CHARS, MAX_VERSION_NAME_CHARS
from core.workflow.audition import Version, with_matched_gains
from core.workflow.listen import SAME, listeners, loudness_lufs, peak_dbfs, vote_summary, vote_table
from pages.ui.text import message

#: Where the listener's name is kept for the whole session (the name field's own state is
#: dropped by Streamlit whenever the field is not on the page).
LISTENER_KEY = "listen_listener_kept"


def rename_panel(store, track_hash: str, *, linked: list, labels: dict) -> None:
    """"Rename a version": a linked version, its new name, and a button that keeps it (then the page reruns)."""
    if not linked:
        return
    rows = {r["render_key"]: r for r in linked}
    with st.expander("Rename a version"):
        c1, c2, c3 = st.columns([3, 3, 1], vertical_alignment="bottom")
        key = c1.selectbox("Version", list(rows), format_func=lambda k: labels.get(k, k), key="listen_rename_pick")
        current = rows[key]["label"] if rows[key].get("named") else labels.get(key, "")
        name = c2.text_input("New name", value=current, max_chars=MAX_VERSION_NAME_CHARS,
                             key=f"listen_rename_name_{key[:16]}", help="Shown everywhere this version is named.")
        if c3.button("Rename", key="listen_rename_go"):
            try:
                store.rename_version(track_hash, key, name)
            except StudioError as exc:
                st.error(message(exc))
                return
            st.rerun()


@st.cache_data(max_entries=64, show_spinner=False)
def levels(key: str, _samples, sample_rate: int) -> tuple[float, float]:
    """(integrated loudness LUFS, sample peak dBFS) of a version, measured once per version."""
    return loudness_lufs(_samples, sample_rate), peak_dbfs(_samples)


def matched(versions: list[Version]) -> tuple[list[Version], dict]:
    """The versions at their matching gains, and their (LUFS, peak dBFS) by id; a version that
    cannot be measured ends the run with a message."""
    try:
        measured = {v.id: levels(v.key, v.samples, v.sample_rate) for v in versions}
    except StudioError as exc:
        st.error(f"The loudness of a version could not be measured: {message(exc)}")
        st.stop()
    return with_matched_gains(versions, measured), measured


def _listener_name() -> str:
    """The "Your name" field, filled with the name typed earlier in this session."""
    state = st.session_state
    if "listen_listener" not in state:
        state["listen_listener"] = state.get(LISTENER_KEY, "")
    state[LISTENER_KEY] = st.text_input("Your name", key="listen_listener", max_chars=MAX_LISTENER_CHARS,
                                        help="Type it once: it is kept while this tab is open and stored "
                                             "with each of your votes.")
    return state[LISTENER_KEY]


def _vote(store, track_hash: str, *, note_key: str, **vote) -> None:
    """Store a vote with the listener's name and note as they are when the button is pressed."""
    state = st.session_state  # callbacks run before the page: the fields' state is the newest
    listener = state.get("listen_listener", state.get(LISTENER_KEY, ""))
    try:
        store.add_vote(track_hash, listener=listener, note=state.get(note_key, ""), **vote)
    except StudioError as exc:
        state["listen_vote_error"] = message(exc)


def vote_buttons(store, track_hash: str, *, letters: dict, pair, round_id: str) -> None:
    """The listener's name, a note on the pair, and "A is better", "About the same", "B is better":
    each button stores its vote with the name and note (then the page reruns)."""
    if error := st.session_state.pop("listen_vote_error", None):
        st.error(f"The vote was not kept: {error}")
    x, y = pair
    n1, n2 = st.columns([1, 2])
    with n1:
        _listener_name()
    note_key = f"listen_note_{round_id[:12]}_{x}{y}"
    n2.text_input(f"A note on {x} and {y} (optional)", key=note_key, max_chars=MAX_NOTE_CHARS,
                  placeholder="e.g. the chorus of B hits harder")
    choices = ((f"{x} is better", "listen_vote_a", letters[x]), ("About the same", "listen_vote_same", SAME),
               (f"{y} is better", "listen_vote_b", letters[y]))
    for column, (text, key, preferred) in zip(st.columns(3), choices):
        column.button(text, key=key, on_click=_vote, args=(store, track_hash), width="stretch",
                      kwargs={"version_a": letters[x], "version_b": letters[y], "preferred": preferred,
                              "session": round_id, "note_key": note_key})


def votes_section(store, track_hash: str, *, names: dict, heading: str) -> None:
    """The votes per version so far (table and figure), for everyone or one listener, and every
    vote with its listener and note; nothing when there are no votes."""
    if not (votes := store.votes(track_hash)):
        return
    st.subheader(heading)
    who = listeners(votes)
    listener = st.selectbox("Listener", [None, *who], format_func=lambda w: "Everyone" if w is None else w,
                            key="listen_votes_listener") if len(who) > 1 else None
    try:
        summary = vote_summary(votes, listener=listener)
    except StudioError as exc:
        st.warning(f"The stored votes of this track could not be summarised: {message(exc)}")
        return
    left, right = st.columns([1, 1])
    shown = summary.assign(version=[names.get(v, v) for v in summary["version_id"]])
    left.dataframe(shown[["version", "wins", "losses", "ties", "comparisons", "score"]], hide_index=True,
                   column_config={"score": st.column_config.NumberColumn(
                       format="%.2f", help="wins plus half the ties, over the comparisons")})
    right.plotly_chart(vote_figure(summary, names=names), key="listen_votes_figure")
    st.markdown("**Every vote**, with its listener and note")
    st.dataframe(vote_table(votes, names=names, listener=listener), hide_index=True)
