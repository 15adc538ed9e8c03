"""Loop: the dog-food tables (being built)."""
import streamlit as st

st.title("Loop")
