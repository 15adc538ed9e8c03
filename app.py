"""Music studio: multipage entry point (``streamlit run app.py`` or ``make run``).

The pages are the files in pages/; each opens through this navigation, also when its URL is
the first request after a server start (see pages/ui/entry.py). URL paths are the file names:
/segments, /stems, /render, /covers, /listen, /taste, /share, /loop, /models; Analyze is "/".
The page icon is an image in assets/ (served by the app): a ``:material/...:`` page icon makes the
browser fetch the favicon from Google's font server, which fails offline, and emoji need an emoji
font the machine may lack. The navigation has no icons, for the same reason.
"""

import logging

import streamlit as st

from core.errors import StudioError
from core.paths import ASSETS
from pages.ui.text import UNEXPECTED, message

st.set_page_config(page_title="Music Studio", page_icon=str(ASSETS / "studio_icon.png"), layout="wide")

pages = [
    st.Page("pages/analyze.py", title="Analyze", default=True),
    st.Page("pages/segments.py", title="Segments"),
    st.Page("pages/stems.py", title="Stems"),
    st.Page("pages/render.py", title="Render"),
    st.Page("pages/covers.py", title="Covers"),
    st.Page("pages/listen.py", title="Listen"),
    st.Page("pages/taste.py", title="Taste"),
    st.Page("pages/share.py", title="Share"),
    st.Page("pages/loop.py", title="Loop"),
    st.Page("pages/models.py", title="Models"),
]
try:
    st.navigation(pages).run()
except StudioError as exc:  # what a user can cause and no page caught: its message
    st.error(message(exc))
except Exception:  # a bug on a page: a plain message, never a traceback or server paths; details in the log
    logging.getLogger("studio.pages").exception("A page failed")
    st.error(UNEXPECTED)
