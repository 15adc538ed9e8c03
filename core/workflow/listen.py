"""Listening side by side: loudness matching, blind A/B order and votes, the overlay figure.

Pure functions (no Streamlit). The Listen page plays the original of a track and its renders
in one synchronised player; the functions here decide how loud each version plays (so that
louder never wins by accident), hide the versions' identities behind neutral letters in a
blind test, and summarise the listener's votes per version. Their figures are in
:mod:`core.plots` (``vote_figure``, ``overlay_figure``); the page's version list is
:mod:`core.workflow.audition`.

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
#: The columns of the per-listener table (:func:`vote_table`).
VOTE_TABLE_COLUMNS = ["listener", "pair", "preferred", "note"]
#: How a vote given without a name is listed (and filtered).
NO_NAME = "(no name)"


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


def listener_of(vote: Mapping) -> str:
    """Who gave a vote: the listener's name, or :data:`NO_NAME`."""
    name = vote.get("listener") if isinstance(vote, Mapping) else None
    return str(name or "").strip() or NO_NAME


def listeners(votes: Iterable[Mapping]) -> list[str]:
    """The listeners who voted, in the order of their first vote (:data:`NO_NAME` for votes without a name)."""
    return list(dict.fromkeys(listener_of(v) for v in votes))


def votes_by(votes: Iterable[Mapping], listener: str | None) -> list[Mapping]:
    """The votes of one listener (a name from :func:`listeners`), or every vote for ``None``."""
    return [v for v in votes if listener is None or listener_of(v) == listener]


def vote_table(votes: Iterable[Mapping], *, names: Mapping[str, str], listener: str | None = None) -> pd.DataFrame:
    """One row per vote, oldest first: the listener, the pair ("original vs Stitched version 1"),
    the version preferred ("same" for a tie) and the listener's note; ``names``: version id ->
    name (ids without a name are shown as they are); ``listener`` keeps one listener's votes."""
    rows = [{"listener": listener_of(v),
             "pair": f"{names.get(v['version_a'], v['version_a'])} vs {names.get(v['version_b'], v['version_b'])}",
             "preferred": SAME if v["preferred"] == SAME else names.get(v["preferred"], v["preferred"]),
             "note": str(v.get("note") or "")} for v in votes_by(votes, listener)]
    return pd.DataFrame(rows, columns=VOTE_TABLE_COLUMNS)


def vote_summary(votes: Iterable[Mapping], *, listener: str | None = None) -> pd.DataFrame:
    """Wins, losses and ties per version from blind A/B votes.

    Parameters
    ----------
    votes : iterable of mappings
        Each with ``version_a``, ``version_b`` and ``preferred`` (one of the two, or
        ``"same"``), as :meth:`core.store.store.Store.votes` returns them.
    listener : str, optional
        Count only this listener's votes (a name from :func:`listeners`); all votes when None.

    Returns
    -------
    pandas.DataFrame
        One row per version: ``version_id``, ``wins``, ``losses``, ``ties``,
        ``comparisons`` and ``score`` (wins plus half the ties, over the comparisons), best
        score first (ties broken by the version id).
    """
    rows: dict[str, dict[str, int]] = {}
    for n, vote in enumerate(votes_by(votes, listener), start=1):
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
