"""The studio's core library: audio in, analyses, renders and covers out.

Pure Python; never imports streamlit. Everything a page shows is computed here, so tests,
the CLI (``python -m core``) and batch jobs call exactly what the app calls.
"""

from core.analysis.analyze import Analysis, AnalysisOptions, analyze  # noqa: E402
from core.analysis.segment import SegmentOptions  # noqa: E402
from core.audio.grid import WindowGrid  # noqa: E402
from core.audio.load import Track, load_track, track_from_array  # noqa: E402
from core.errors import AudioError, OptionError, StoreError, StudioError  # noqa: E402
from core.version import __version__  # noqa: E402,F401

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "AudioError",
    "OptionError",
    "SegmentOptions",
    "StoreError",
    "StudioError",
    "Track",
    "WindowGrid",
    "analyze",
    "load_track",
    "track_from_array",
]
