"""Entry shim: a bookmarked /listen opened before app.py has run (right after a server start)
makes Streamlit look for pages/listen.py; it runs app.py, whose st.navigation shows the real
page (pages/views/listen.py)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "app.py"))
