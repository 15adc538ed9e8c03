"""The studio's version, recorded in every analysis and render."""

__version__ = "0.1.0"
