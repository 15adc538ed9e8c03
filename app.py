"""Music studio: multipage entry point (``streamlit run app.py`` or ``make run``)."""

import streamlit as st

st.set_page_config(page_title="Music Studio", page_icon=":material/graphic_eq:", layout="wide")

pages = [
    st.Page("pages/views/analyze.py", title="Analyze", icon=":material/graphic_eq:", default=True),
    st.Page("pages/views/segments.py", title="Segments", icon=":material/edit_note:"),
    st.Page("pages/views/stems.py", title="Stems", icon=":material/call_split:"),
    st.Page("pages/views/render.py", title="Render", icon=":material/music_note:"),
    st.Page("pages/views/listen.py", title="Listen", icon=":material/headphones:"),
    st.Page("pages/views/loop.py", title="Loop", icon=":material/autorenew:"),
    st.Page("pages/views/models.py", title="Models", icon=":material/model_training:"),
]
st.navigation(pages).run()
