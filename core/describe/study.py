"""The Amper study's published figures and the Models page's tables built beside them.

The figures live in one data file, ``assets/amper_study.json``, validated when loaded
(:func:`amper_study`): the Models page lists them next to each model's held-out accuracy
(:func:`accuracy_table`) and the Loop page draws them beside the loop's results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from core.describe.models import TARGETS
from core.errors import StudioError
from core.paths import ASSETS

STUDY_FILE = ASSETS / "amper_study.json"
FORMAT = "music-studio study figures"
#: The column of :func:`accuracy_table` that holds the study's single-region figures.
STUDY_COLUMN = "Amper study (single-region renders)"


class StudyError(StudioError):
    """The study's figures file is missing or malformed."""


@dataclass(frozen=True)
class StudyFigures:
    """A study's figures per target (shares in [0, 1])."""

    study: str
    single_region: dict[str, float]  # its classifiers' accuracy on its own single-region renders
    multi_region: dict[str, float]  # its multi-region renders' consistency with the reference's segments


def _figures(doc: dict, field: str, path: Path) -> dict[str, float]:
    values = doc.get(field)
    if not isinstance(values, dict) or set(values) != set(TARGETS):
        raise StudyError(f"{path.name}: '{field}' must give a figure for each of {', '.join(TARGETS)}.")
    for target, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise StudyError(f"{path.name}: '{field}.{target}' must be a share between 0 and 1 (got {value!r}).")
    return {t: float(values[t]) for t in TARGETS}


@lru_cache(maxsize=4)
def amper_study(path: Path = STUDY_FILE) -> StudyFigures:
    """The Amper study's figures from ``path`` (``assets/amper_study.json``), validated.

    Raises
    ------
    StudyError
        When the file cannot be read, is not JSON of this format, or lacks a figure per target.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise StudyError(f"The study figures {path} could not be read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StudyError(f"{path.name} is not a study figures file (format '{FORMAT}').")
    return StudyFigures(study=str(doc.get("study", "")), single_region=_figures(doc, "single_region", path),
                        multi_region=_figures(doc, "multi_region", path))


def accuracy_table(models, *, study: StudyFigures | None = None) -> pd.DataFrame:
    """Held-out window and render accuracy per target (rows) for each model (two columns each),
    and the study's single-region figures as the last column."""
    rows = {}
    for m in models:
        rows[f"{m.name} windows"] = [m.metrics[t]["window_accuracy"] for t in TARGETS]
        rows[f"{m.name} renders"] = [m.metrics[t]["render_accuracy"] for t in TARGETS]
    table = pd.DataFrame(rows, index=list(TARGETS))
    table[STUDY_COLUMN] = [(study or amper_study()).single_region[t] for t in TARGETS]
    return table


def real_music_table(models) -> pd.DataFrame:
    """One row per model that was measured on real recordings (``metrics["real_music"]``): the
    clips, the share whose majority genre is right, and the share of all windows on the single
    most frequent genre (a collapsed model puts most windows on one)."""
    rows = []
    for m in models:
        real = m.metrics.get("real_music")
        if isinstance(real, dict) and "majority_accuracy" in real:
            rows.append({"model": m.name, "real clips": real.get("clips"),
                         "majority genre right": real["majority_accuracy"],
                         "windows on the top genre": real.get("top_share"), "top genre": real.get("top_genre"),
                         "measured on": real.get("dataset", ""), "grouping": real.get("grouping", "")})
    return pd.DataFrame(rows)


def training_note(model) -> str:
    """One line (markdown) on how a model was trained and measured."""
    split = model.metrics.get("split", {})
    return (f"**{model.name}** ({model.kind}): features {'+'.join(model.feature_sets)} ({len(model.columns)} "
            f"columns); {model.config.get('renders')} renders, {model.config.get('windows')} windows; held out "
            f"{split.get('test_renders')} renders ({split.get('test_windows')} windows); 'unknown' below "
            f"p = {model.threshold}; versions {model.versions}")


def descriptors_of_genres(model, *, genres) -> list[str]:
    """The descriptors of the given genres that the model's distance matrix knows, in its order."""
    return [str(n) for n in model.extras["descriptor_names"] if str(n).split("_")[0] in set(genres)]


def distance_table(model, *, names) -> pd.DataFrame:
    """The model's descriptor distance matrix restricted to ``names`` (rows and columns)."""
    known = [str(n) for n in model.extras["descriptor_names"]]
    return pd.DataFrame(model.extras["descriptor_distance"], index=known, columns=known).loc[names, names]
