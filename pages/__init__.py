"""The Streamlit pages (app.py lists them in st.navigation) and their shared widgets (ui/)."""
