"""Listening side by side: loudness matching, blind A/B order and votes, the overlay figure.

Pure functions (no Streamlit). The Listen page plays the original of a track and its renders
in one synchronised player; the functions here decide how loud each version plays (so that
louder never wins by accident), hide the versions' identities behind neutral letters in a
blind test, and summarise the listener's votes per version.

Version ids are strings: ``"original"`` for the reference track and ``"render:<render_key>"``
for a stored render (see :func:`version_id`).
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.errors import StudioError

#: Loudness every version is brought to in the player (LUFS, integrated, ITU-R BS.1770).
TARGET_LUFS = -16.0
#: Highest sample peak a version may reach after its gain (dBFS): the common target is
#: lowered rather than let one version clip, which would colour the comparison.
CEILING_DBFS = -1.0
#: pyloudnorm's gating block (s): shorter audio is padded with silence to one block.
_BLOCK_S = 0.4
#: The original's id; renders are ``render:<render_key>``.
ORIGINAL = "original"
SAME = "same"
SUMMARY_COLUMNS = ["version_id", "wins", "losses", "ties", "comparisons", "score"]


class ListenError(StudioError):
    """A listening setting or a vote that does not make sense (unknown version, bad seed...)."""


def version_id(render_key: str | None = None) -> str:
    """The version id of a stored render (``"render:<key>"``), or of the original when ``None``."""
    return ORIGINAL if render_key is None else f"render:{render_key}"


def render_key_of(version: str) -> str | None:
    """The render key inside a version id, or ``None`` for the original."""
    return version.split(":", 1)[1] if version.startswith("render:") else None


# ------------------------------------------------------------------------------ loudness


def _as_frames(samples: np.ndarray) -> np.ndarray:
    y = np.asarray(samples, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] > 5:
        raise ListenError(f"Audio must be (samples, channels) with 1 to 5 channels; got shape {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise ListenError("The audio contains invalid samples (NaN or infinity); it cannot be measured.")
    return y


def loudness_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of a piece of audio (LUFS, ITU-R BS.1770 with gating, via pyloudnorm).

    Parameters
    ----------
    samples : np.ndarray
        ``(n_samples, channels)`` or ``(n_samples,)`` float samples in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    float
        LUFS; ``-inf`` for silence (nothing above the absolute gate of -70 LUFS).
    """
    import pyloudnorm

    if sample_rate <= 0:
        raise ListenError(f"The sample rate must be positive (got {sample_rate} Hz).")
    y = _as_frames(samples)
    block = int(math.ceil(_BLOCK_S * sample_rate)) + 1
    if y.shape[0] < block:  # shorter than one gating block: pad with silence
        y = np.vstack([y, np.zeros((block - y.shape[0], y.shape[1]))])
    if not np.any(np.abs(y) > 1e-9):
        return float("-inf")
    with np.errstate(divide="ignore"):
        loud = float(pyloudnorm.Meter(int(sample_rate)).integrated_loudness(y))
    return loud if np.isfinite(loud) else float("-inf")


def peak_dbfs(samples: np.ndarray) -> float:
    """The highest absolute sample value in dBFS (``-inf`` for silence)."""
    y = _as_frames(samples)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def matched_gains_db(
    loudness: Mapping[str, float],
    *,
    target_lufs: float = TARGET_LUFS,
    peaks_dbfs: Mapping[str, float] | None = None,
    ceiling_dbfs: float = CEILING_DBFS,
) -> dict[str, float]:
    """The gain (dB) that brings each version to one common loudness.

    Parameters
    ----------
    loudness : mapping of version id to LUFS
        Each version's integrated loudness (:func:`loudness_lufs`).
    target_lufs : float
        The common loudness (LUFS), -16 by default.
    peaks_dbfs : mapping of version id to dBFS, optional
        Each version's sample peak (:func:`peak_dbfs`). When given, the common target is
        lowered as far as needed for no version to peak above ``ceiling_dbfs`` after its
        gain: every version still plays at the same loudness, none of them clips.
    ceiling_dbfs : float
        The highest peak allowed after the gain (dBFS).

    Returns
    -------
    dict of version id to gain in dB
        Silent versions (``-inf`` LUFS) get 0 dB: there is nothing to match.
    """
    if not -70.0 <= target_lufs <= 0.0:
        raise ListenError(f"The loudness target must be between -70 and 0 LUFS (got {target_lufs}).")
    audible = {v: float(lu) for v, lu in loudness.items() if lu is not None and np.isfinite(lu)}
    target = float(target_lufs)
    for v, lu in audible.items():
        peak = (peaks_dbfs or {}).get(v)
        if peak is not None and np.isfinite(peak):
            target = min(target, lu + (ceiling_dbfs - float(peak)))
    return {v: target - audible[v] if v in audible else 0.0 for v in loudness}


# ------------------------------------------------------------------------------ blind A/B


def blind_order(version_ids: Sequence[str], *, seed: int) -> dict[str, str]:
    """Neutral letters for the versions, in an order shuffled by ``seed``.

    Returns
    -------
    dict of letter to version id
        ``{"A": ..., "B": ..., ...}`` in letter order; the same seed always gives the same
        letters, another seed (almost always) another order.
    """
    ids = list(version_ids)
    if len(set(ids)) != len(ids):
        raise ListenError("Each version can be in a blind test only once.")
    if len(ids) > len(string.ascii_uppercase):
        raise ListenError(f"A blind test takes at most {len(string.ascii_uppercase)} versions (got {len(ids)}).")
    if seed < 0:
        raise ListenError(f"The blind-test seed must be zero or positive (got {seed}).")
    order = np.random.default_rng(int(seed)).permutation(len(ids))
    return {string.ascii_uppercase[i]: ids[j] for i, j in enumerate(order)}


def blind_pairs(letters: Iterable[str]) -> list[tuple[str, str]]:
    """Every pair of letters to compare once, in reading order: (A, B), (A, C), (B, C), ..."""
    return list(itertools.combinations(sorted(letters), 2))


def vote_summary(votes: Iterable[Mapping]) -> pd.DataFrame:
    """Wins, losses and ties per version from blind A/B votes.

    Parameters
    ----------
    votes : iterable of mappings
        Each with ``version_a``, ``version_b`` and ``preferred`` (one of the two, or
        ``"same"``), as :meth:`core.store.store.Store.votes` returns them.

    Returns
    -------
    pandas.DataFrame
        One row per version: ``version_id``, ``wins``, ``losses``, ``ties``,
        ``comparisons`` and ``score`` (wins plus half the ties, over the comparisons), best
        score first (ties broken by the version id).
    """
    rows: dict[str, dict[str, int]] = {}
    for n, vote in enumerate(votes, start=1):
        try:
            a, b, pref = str(vote["version_a"]), str(vote["version_b"]), str(vote["preferred"])
        except (KeyError, TypeError):
            raise ListenError(f"Vote {n} needs version_a, version_b and preferred.") from None
        if a == b:
            raise ListenError(f"Vote {n} compares '{a}' with itself.")
        if pref not in (a, b, SAME):
            raise ListenError(f"Vote {n} prefers '{pref}', which is neither of its two versions nor 'same'.")
        for v in (a, b):
            counts = rows.setdefault(v, {"wins": 0, "losses": 0, "ties": 0})
            if pref == SAME:
                counts["ties"] += 1
            elif pref == v:
                counts["wins"] += 1
            else:
                counts["losses"] += 1
    table = pd.DataFrame([{"version_id": v, **c} for v, c in rows.items()],
                         columns=SUMMARY_COLUMNS[:4])
    table = table.astype({"wins": int, "losses": int, "ties": int})
    table["comparisons"] = table["wins"] + table["losses"] + table["ties"]
    table["score"] = ((table["wins"] + 0.5 * table["ties"]) / table["comparisons"].clip(lower=1)).astype(float)
    return table.sort_values(["score", "version_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def vote_figure(summary: pd.DataFrame, *, names: Mapping[str, str] | None = None) -> go.Figure:
    """Stacked bars of wins, ties and losses per version (``summary`` from :func:`vote_summary`)."""
    labels = [(names or {}).get(v, v) for v in summary["version_id"]]
    fig = go.Figure()
    for column, colour in (("wins", "#54a24b"), ("ties", "#bab0ac"), ("losses", "#e45756")):
        fig.add_trace(go.Bar(y=labels, x=summary[column], name=column, orientation="h", marker_color=colour,
                             hovertemplate="%{y}: %{x} " + column + "<extra></extra>"))
    fig.update_layout(barmode="stack", title="Blind A/B votes per version", xaxis_title="votes",
                      height=120 + 36 * max(1, len(labels)), margin=dict(l=20, r=20, t=50, b=40),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                                    yanchor="bottom"))
    return fig


# ------------------------------------------------------------------------------ overlay figure


def _envelope(samples: np.ndarray, sample_rate: int, *, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times s, min, max) of the mono mix per column, scaled to the audio's own peak."""
    y = np.asarray(samples, dtype=np.float32)
    y = y.mean(axis=1) if y.ndim == 2 else y
    if y.size == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    n = max(1, min(columns, y.size))
    edges = np.linspace(0, y.size, n + 1).astype(int)[:-1]
    peak = max(float(np.max(np.abs(y))), 1e-9)
    return edges / float(sample_rate), np.minimum.reduceat(y, edges) / peak, np.maximum.reduceat(y, edges) / peak


def overlay_figure(reference, render, *, segments: pd.DataFrame | None = None, columns: int = 1500,
                   reference_name: str = "reference", render_name: str = "render") -> go.Figure:
    """The reference waveform with its multi-region render overlaid, and the region boundaries.

    The Amper study's figure: does the render follow the form of the reference? Each
    waveform is the min/max envelope of its mono mix scaled to its own peak.

    Parameters
    ----------
    reference : core.audio.load.Track
        The reference track (``samples``, ``sample_rate``).
    render : core.generate.render.Render
        A render of it (``audio``, ``sample_rate``, ``regions`` with ``start_s``, ``end_s``
        and ``descriptor``).
    segments : pandas.DataFrame, optional
        The reference's segments (``start_s``, ``end_s``, ``label``), drawn as labels along
        the bottom.
    columns : int
        Envelope resolution (points per waveform).
    """
    from core.plots import label_colors

    fig = go.Figure()
    for name, samples, rate, colour, opacity in (
        (reference_name, reference.samples, reference.sample_rate, "#4c78a8", 0.55),
        (render_name, render.audio, render.sample_rate, "#f58518", 0.45),
    ):
        t, lo, hi = _envelope(samples, rate, columns=columns)
        fig.add_trace(go.Scatter(x=t, y=hi, mode="lines", line=dict(color=colour, width=0.5), opacity=opacity,
                                 legendgroup=name, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=t, y=lo, mode="lines", line=dict(color=colour, width=0.5), opacity=opacity,
                                 fill="tonexty", name=name, legendgroup=name,
                                 hovertemplate="%{x:.1f} s<extra>" + name + "</extra>"))
    duration_s = max(reference.samples.shape[0] / reference.sample_rate, render.audio.shape[0] / render.sample_rate)
    for region in render.regions:
        if region.start_s > 0:
            fig.add_vline(x=region.start_s, line=dict(color="black", width=2, dash="dash"))
        fig.add_annotation(x=(region.start_s + region.end_s) / 2, y=1.0, yref="paper", yanchor="bottom",
                           text=region.descriptor.replace("_", " "), showarrow=False, font=dict(size=11))
    if segments is not None and len(segments):
        colours = label_colors(segments["label"])
        for seg in segments.itertuples():
            fig.add_annotation(x=(seg.start_s + seg.end_s) / 2, y=-1.08, showarrow=False, yanchor="top",
                               text=f"<b>{seg.label}</b>", font=dict(color=colours[seg.label], size=13))
            if seg.start_s > 0:
                fig.add_vline(x=seg.start_s, line=dict(color=colours[seg.label], width=1, dash="dot"))
    fig.update_layout(title=dict(text="Reference and render overlaid, with the region boundaries", y=0.97),
                      height=330, margin=dict(l=40, r=20, t=80, b=40), xaxis=dict(title="time (s)",
                      range=[0, duration_s]), yaxis=dict(range=[-1.25, 1.1], showticklabels=False),
                      legend=dict(orientation="h", y=1.18, x=1, xanchor="right"))
    return fig
