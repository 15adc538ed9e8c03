"""Segments: edit the form and its descriptors (being built)."""
import streamlit as st

st.title("Segments")
