"""Listen: original and renders side by side (being built)."""
import streamlit as st

st.title("Listen")
