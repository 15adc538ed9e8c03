"""A stored render on a page: its caption, player, figure, WAV / MIDI / timeline downloads and
its deliverables (cut-downs, loop, stems: core.generate.deliver), made on request."""

from __future__ import annotations

import streamlit as st

from core.audio.load import to_ogg_bytes
from core.generate.deliver import ABOUT, deliverables, stored_deliverables
from pages.ui.media import JSON, download, download_buttons, render_media, stored_render
from pages.ui.progress import with_progress
from pages.ui.text import plain
from pages.ui.widgets import get_store


def render_card(render_key: str, *, prefix: str, title: str = "", stem: str | None = None) -> bool:
    """A stored render's caption (after ``title``), player, figure and WAV / MIDI / timeline
    downloads; False (and a warning) when it cannot be read back."""
    media = render_media(render_key)
    if media is None:
        st.warning("This render could not be read back from the store; render it again.")
        return False
    st.markdown(f"{title}{media['caption']}")
    st.audio(media["ogg"], format="audio/ogg")
    st.plotly_chart(media["figure"], key=f"{prefix}fig-{render_key}")
    stem = stem or media["stem"]
    download_buttons([("WAV", media["wav"], f"{stem}.wav", "audio/wav", f"{prefix}wav-{render_key}"),
                      ("MIDI", media["midi"], f"{stem}.mid", "audio/midi", f"{prefix}mid-{render_key}"),
                      ("Timeline", media["timeline"], f"{stem}.json", JSON, f"{prefix}json-{render_key}")])
    deliverables_panel(render_key, prefix=prefix, stem=stem)
    return True


@st.cache_data(max_entries=24, show_spinner=False)
def _piece_ogg(render_key: str, name: str) -> bytes:
    """One cut-down or the loop of a render's stored deliverables, as OGG for a player."""
    return to_ogg_bytes(*stored_deliverables(get_store(), render_key).read_audio(name))


def deliverables_panel(render_key: str, *, prefix: str, stem: str) -> None:
    """Cut-downs, loop and stems of a stored render: made on request, then a lookup in the store."""
    with st.expander("Deliverables: cut-downs, loop, stems"):
        store, made = get_store(), stored_deliverables(get_store(), render_key)
        if made is None and not st.button("Make the deliverables", key=f"{prefix}deliver-{render_key}", help=ABOUT):
            return
        made = made or with_progress("Making the deliverables", lambda p: deliverables(
            store, render_key, name=stem, progress=p), stop=False, store=store, stage="deliverables",
            audio_s=getattr(stored_render(render_key), "duration_s", 0.0))
        if made is None:
            return
        download("All as deliverables.zip", made.zip_data, f"{stem}_deliverables.zip", "application/zip",
                 key=f"{prefix}zip-{render_key}")
        for f in made.of_kind("cut", "loop")[1:]:  # the full version plays above
            st.caption(f"{plain(f.about)} · {f.duration_s:.1f} s")
            st.audio(_piece_ogg(render_key, f.name), format="audio/ogg")
        [st.caption(plain(note)) for note in made.notes]
        files = [(f.label, lambda name=f.name: made.read(name), f.name, "audio/wav",
                  f"{prefix}dl-{f.name}-{render_key}") for f in made.of_kind("cut", "loop", "stem")]
        [download_buttons(files[row:row + 5], spec=5) for row in range(0, len(files), 5)]
