"""Music studio: multipage entry point (``streamlit run app.py`` or ``make run``).

The pages are the files in pages/; each opens through this navigation, also when its URL is
the first request after a server start (see pages/ui/entry.py). URL paths are the file names:
/segments, /stems, /render, /listen, /loop, /models; Analyze is "/".
"""

import logging

import streamlit as st

from core.errors import StudioError
from pages.ui.text import UNEXPECTED, message

st.set_page_config(page_title="Music Studio", page_icon=":material/graphic_eq:", layout="wide")

pages = [
    st.Page("pages/analyze.py", title="Analyze", icon=":material/graphic_eq:", default=True),
    st.Page("pages/segments.py", title="Segments", icon=":material/edit_note:"),
    st.Page("pages/stems.py", title="Stems", icon=":material/call_split:"),
    st.Page("pages/render.py", title="Render", icon=":material/music_note:"),
    st.Page("pages/listen.py", title="Listen", icon=":material/headphones:"),
    st.Page("pages/loop.py", title="Loop", icon=":material/autorenew:"),
    st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
]
try:
    st.navigation(pages).run()
except StudioError as exc:  # what a user can cause and no page caught: its message
    st.error(message(exc))
except Exception:  # a bug on a page: a plain message, never a traceback or server paths; details in the log
    logging.getLogger("studio.pages").exception("A page failed")
    st.error(UNEXPECTED)
