"""The Listen page's widgets: loudness-matched versions, the blind test's vote buttons and the
votes' summary."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.plots import vote_figure
from core.workflow.audition import Version, with_matched_gains
from core.workflow.listen import SAME, loudness_lufs, peak_dbfs, vote_summary
from pages.ui.text import message


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


def vote_buttons(store, track_hash: str, *, letters: dict, pair, round_id: str) -> None:
    """"A is better", "About the same", "B is better": each stores its vote (then the page reruns)."""
    x, y = pair
    choices = ((f"{x} is better", "listen_vote_a", letters[x]), ("About the same", "listen_vote_same", SAME),
               (f"{y} is better", "listen_vote_b", letters[y]))
    for column, (text, key, preferred) in zip(st.columns(3), choices):
        column.button(text, key=key, on_click=store.add_vote, args=(track_hash,), width="stretch",
                      kwargs={"version_a": letters[x], "version_b": letters[y], "preferred": preferred,
                              "session": round_id})


def votes_section(store, track_hash: str, *, names: dict, heading: str) -> None:
    """The votes per version so far (table and figure), when there are any."""
    if not (votes := store.votes(track_hash)):
        return
    try:
        summary = vote_summary(votes)
    except StudioError as exc:
        st.warning(f"The stored votes of this track could not be summarised: {message(exc)}")
        return
    st.subheader(heading)
    left, right = st.columns([1, 1])
    shown = summary.assign(version=[names.get(v, v) for v in summary["version_id"]])
    left.dataframe(shown[["version", "wins", "losses", "ties", "comparisons", "score"]], hide_index=True,
                   column_config={"score": st.column_config.NumberColumn(
                       format="%.2f", help="wins plus half the ties, over the comparisons")})
    right.plotly_chart(vote_figure(summary, names=names), key="listen_votes_figure")
