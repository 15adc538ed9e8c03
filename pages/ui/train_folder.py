"""Models page: "Train on your own examples" (core.describe.folder). Files per label, or a zip
with one folder per label; a name; the cross-validated figures and the confusions; the model is
then on the Analyze page's "Real-music model" picker."""

from __future__ import annotations

import tempfile

import streamlit as st

from core.audio.load import AUDIO_TYPES
from core.describe.folder import MIN_TRACKS, folder_from_uploads, folder_from_zip, train_folder
from core.plots import confusion_figure
from pages.ui.progress import with_progress
from pages.ui.text import plain
from pages.ui.widgets import get_store

RESULT = "train_folder_result"
FILES, ZIPPED = "Files per label", "A zip with one folder per label"
MAX_LABELS = 10


def _uploads() -> tuple[dict, bytes | None]:
    """The examples given: ``{label: [(file name, bytes), ...]}`` or the zip's bytes."""
    how = st.radio("Your examples", [FILES, ZIPPED], horizontal=True, key="tf_how")
    if how == ZIPPED:
        up = st.file_uploader("Zip (e.g. rock/*.wav, jazz/*.mp3)", type=["zip"], key="tf_zip")
        return {}, (up.getvalue() if up else None)
    n = int(st.number_input("Labels", 2, MAX_LABELS, 2, 1, key="tf_labels"))
    groups: dict = {}
    for i in range(n):
        c1, c2 = st.columns([1, 3])
        label = c1.text_input(f"Label {i + 1}", key=f"tf_label_{i}", placeholder="e.g. dreamy")
        files = c2.file_uploader(f"Examples of label {i + 1}", type=list(AUDIO_TYPES), accept_multiple_files=True,
                                 key=f"tf_files_{i}")
        if files:
            groups.setdefault(label.strip(), []).extend((f.name, f.getvalue()) for f in files)
    return groups, None


def _train(groups: dict, zipped: bytes | None, *, name: str, force: bool, progress):
    store = get_store()
    with tempfile.TemporaryDirectory(prefix="studio-examples-") as tmp:
        root = folder_from_zip(zipped, tmp) if zipped is not None else folder_from_uploads(groups, tmp)
        return train_folder(root, out=name, store=store, force=force, data_dir=store.root, progress=progress)


def _show(result) -> None:
    m = result.metrics
    st.success(f"**{plain(result.name)}** is saved: pick it on the Analyze page under \"Real-music model\". "
               f"{m.tracks} tracks, {m.windows} windows, trained in {result.train_s:.0f} s.")
    for line in result.unreadable:
        st.warning(f"Skipped {plain(line)}")
    st.dataframe(m.table().style.format("{:.3f}"), key="tf_metrics")
    st.caption(f"Cross-validated in {m.folds} folds, grouped by track: every track was judged by a model "
               f"trained without it. Per track: the majority of its windows. Guessing the commonest label "
               f"scores {m.chance_accuracy:.2f}. LRAP (1 is best) and coverage error (best {m.best_coverage:.2f}) "
               "rank every label, for tracks with several.")
    st.plotly_chart(confusion_figure(result.confusion_view(), "label"), key="tf_confusion")


def train_folder_form() -> None:
    """The section: uploads, a name, the Train button, then the last result of this session."""
    st.subheader("Train on your own examples")
    st.caption(f"Teach the studio your own labels: give at least {MIN_TRACKS} tracks for each of two or more "
               "labels. A track given under two labels has both. The model listens as the real-music lane "
               "does and is ready on the Analyze page at once.")
    groups, zipped = _uploads()
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Model name", key="tf_name", placeholder="my_styles").strip()
    force = c2.checkbox("Replace a model of this name", key="tf_force")
    given = zipped is not None or any(groups.values())
    if st.button("Train", key="tf_train", disabled=not (given and name), type="primary"):
        result = with_progress(f"Training {name}", lambda p: _train(groups, zipped, name=name, force=force,
                                                                    progress=p),
                               error="Training: ", stop=False)
        st.session_state[RESULT] = result
    if st.session_state.get(RESULT) is not None:
        _show(st.session_state[RESULT])

