"""The Loop page's report: the loop's tables of several reference tracks put together, their
summaries per title and their means per target; and unique titles for the tracks.

Pure functions (no Streamlit); the loop itself is :mod:`core.workflow.loop`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from core.describe.models import TARGETS
from core.workflow.loop import summary_by_title


@dataclass(frozen=True)
class LoopReport:
    """The loop's results over several reference tracks."""

    single: pd.DataFrame  # every single-region render
    multi: pd.DataFrame  # every segment of every multi-region render
    single_summary: pd.DataFrame  # per title, then the mean (last row)
    multi_summary: pd.DataFrame
    mean_single: dict[str, float]  # per target, over the titles ({} when there is none)
    mean_multi: dict[str, float]


def _mean(summary: pd.DataFrame) -> dict[str, float]:
    return summary.iloc[-1][list(TARGETS)].to_dict() if len(summary) else {}


def loop_report(results) -> LoopReport:
    """The report of ``results`` (``core.workflow.loop.LoopResult`` objects, one per track)."""
    results = list(results)
    single = pd.concat([r.single for r in results], ignore_index=True)
    multi = pd.concat([r.multi for r in results], ignore_index=True)
    single_summary, multi_summary = summary_by_title(single), summary_by_title(multi)
    return LoopReport(single, multi, single_summary, multi_summary, _mean(single_summary), _mean(multi_summary))


def unique_titles(library) -> dict[str, str]:
    """A title per stored track (``Store.list_tracks`` rows), by content hash: its name, or its
    name and the start of its hash where two tracks share a name."""
    counts = Counter(t["name"] for t in library)
    return {t["content_hash"]: t["name"] if counts[t["name"]] == 1 else f"{t['name']} ({t['content_hash'][:6]})"
            for t in library}


#: Renders per variation at most: the top two tempi times the top two tonics (single-region), and one
#: multi-region render (:func:`core.workflow.loop.plan_loop` with its defaults).
MOST_PER_VARIATION = 5


def loop_todo(missing: int, *, variations: int) -> str:
    """What a run will do: ``missing`` tracks have no stored loop with these settings."""
    tracks = "track has" if missing == 1 else "tracks have"
    return (f"{missing} of the chosen {tracks} no loop with these settings yet. Each takes up to "
            f"{variations * MOST_PER_VARIATION} renders ({MOST_PER_VARIATION} per variation: fewer when the track "
            "keeps one tempo or one key) plus its analysis.")


def loop_done(results, *, elapsed_s: float) -> str:
    """What a run did: ``results`` (``LoopResult`` objects of the tracks it ran) in ``elapsed_s``."""
    results = list(results)
    kinds = Counter(p.kind for r in results for p in r.plan)
    total = sum(kinds.values())
    minutes, seconds = divmod(int(round(elapsed_s)), 60)
    tracks = "track" if len(results) == 1 else "tracks"
    return (f"Ran the loop on {len(results)} {tracks}: {total} render{'s' if total != 1 else ''} "
            f"({kinds['single']} in one style, {kinds['multi']} stitched to follow the form) in {minutes}:{seconds:02d}.")
