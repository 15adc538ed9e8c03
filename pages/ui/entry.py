"""How a page is entered: always through app.py's ``st.navigation``.

Streamlit treats a ``pages/`` folder beside the main script as old-style pages until
``st.navigation`` has run once in the server process. So the first request after a server start
that opens a page URL (a bookmark: /listen) runs ``pages/listen.py`` directly, without app.py's
navigation, page config and sidebar. Every page calls :func:`through_navigation` first: in that
one case it runs app.py, whose ``st.navigation`` opens this same page by its URL, and stops the
direct run. Otherwise it does nothing. (tests/test_browser.py opens every page URL first on a
fresh server.)
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP = Path(__file__).resolve().parents[2] / "app.py"


def through_navigation() -> None:
    """Run app.py (and stop) when Streamlit ran this page directly; else return at once."""
    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP))
        st.stop()
