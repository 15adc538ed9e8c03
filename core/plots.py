"""Plotly figures of an analysis (pure functions: the pages only display them)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.analysis.analyze import Analysis
from core.analysis.key import PITCH_CLASSES
from core.errors import StudioError
from core.paths import ASSETS

PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d",
           "#ff9da6", "#bab0ac"]


def label_colors(labels) -> dict[str, str]:
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(dict.fromkeys(labels))}


# ------------------------------------------------------------------- readable labels and numbers
#: Average glyph width per point of font size (sans-serif; bold is wider): label widths for placement.
CHAR_EM, BOLD_CHAR_EM = 0.62, 0.70
ELLIPSIS = "\u2026"
LEVELS = {"valence": 3, "momentum": 5}


@lru_cache(maxsize=1)
def label_words() -> dict[str, tuple[str, ...]]:
    """Words for valence (0-2) and momentum (0-4), from ``assets/label_words.json`` (checked)."""
    path = ASSETS / "label_words.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StudioError(f"{path.name} cannot be read ({exc}); restore it from the repository.") from None
    for target, count in LEVELS.items():
        words = raw.get(target) if isinstance(raw, dict) else None
        if not (isinstance(words, list) and len(words) == count and all(isinstance(w, str) and w for w in words)):
            raise StudioError(f"{path.name}: '{target}' needs {count} words, one per level 0-{count - 1}.")
    return {target: tuple(raw[target]) for target in LEVELS}


def level_word(target: str, value) -> str:
    """``value`` of ``target`` as a word ("bright" for valence 2); other targets and values unchanged."""
    words = label_words().get(target)
    try:
        level = int(float(value))
    except (TypeError, ValueError):
        return str(value)
    return words[level] if words and 0 <= level < len(words) and float(value) == level else str(value)


def levels_in_words(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose numeric label columns (valence, momentum) read as words, as the
    prediction lanes show them; for display (the CSV downloads keep the numbers)."""
    shown = table.copy()
    for target in label_words():
        if target in shown.columns:
            shown[target] = shown[target].map(lambda v, t=target: level_word(t, v))
    return shown


def describe_levels(*, valence: int, momentum: int) -> tuple[str, str]:
    """("bright · driving"-style words, "valence 2 of 0-2 · momentum 3 of 0-4") for a descriptor."""
    words = f"*{level_word('valence', valence)}* · *{level_word('momentum', momentum)}*"
    return words, f"valence {valence} of 0-2 (dark to bright) · momentum {momentum} of 0-4 (still to intense)"


def clock(seconds: float) -> str:
    """``seconds`` as m:ss (75.4 -> "1:15"); negative or missing times as "0:00"."""
    total = int(round(max(float(seconds), 0.0))) if np.isfinite(seconds) else 0
    return f"{total // 60}:{total % 60:02d}"


def clock_axis(duration_s: float, *, ticks: int = 8) -> dict:
    """An x axis over ``[0, duration_s]`` with m:ss tick labels at a round step (5 s to 10 min)."""
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
    step = next((st for st in steps if duration_s / st <= ticks), steps[-1])
    values = np.arange(0.0, max(duration_s, 0.0) + 1e-9, step)
    return dict(title="time (m:ss)", range=[0, duration_s], tickmode="array", tickvals=values.tolist(),
                ticktext=[clock(v) for v in values])


@dataclass(frozen=True)
class PlacedLabel:
    """A label placed on a time axis: ``text`` as drawn (shortened with an ellipsis, or empty,
    where the row has no room; ``full`` goes in its hover text), its left edge and width in
    seconds and its ``row`` (0 first)."""

    text: str
    full: str
    x_s: float
    width_s: float
    row: int


def place_labels(starts_s, texts, *, duration_s: float, width_px: float, font_px: float = 11.0,
                 bold: bool = False, rows: int = 3, pad_px: float = 4.0) -> list[PlacedLabel]:
    """Left-aligned labels at ``starts_s`` (seconds, ascending) on an axis ``width_px`` wide
    (take the narrowest the chart is drawn at) that never overlap: each goes in the first of
    ``rows`` rows with room; where none has, the row whose last label started first makes room by
    shortening that label (to an ellipsis, or nothing: its full text stays in the hover)."""
    char_px = font_px * (BOLD_CHAR_EM if bold else CHAR_EM)
    px_per_s = width_px / max(float(duration_s), 1e-9)
    placed: list[list] = []  # [text, full, x_px, row]
    last: list[int | None] = [None] * max(1, rows)  # per row: index into placed of its last label
    for start_s, full in zip(starts_s, texts):
        full, x_px = str(full), float(start_s) * px_per_s + pad_px
        ends = [-np.inf if i is None else placed[i][2] + len(placed[i][0]) * char_px for i in last]
        free = [r for r, end in enumerate(ends) if end + pad_px <= x_px]
        if free:
            row = free[0]
        else:  # shorten the row's last label that started first: it keeps the most characters
            row = min(range(len(last)), key=lambda r: placed[last[r]][2])
            prev = placed[last[row]]
            prev[0] = _shorten(prev[1], max(0.0, x_px - pad_px - prev[2]), char_px)
        text = _shorten(full, max(0.0, width_px - x_px), char_px)
        last[row] = len(placed)
        placed.append([text, full, x_px, row])
    return [PlacedLabel(text=t, full=f, x_s=x / px_per_s, width_s=len(t) * char_px / px_per_s, row=r)
            for t, f, x, r in placed]


def _shorten(text: str, room_px: float, char_px: float) -> str:
    """``text`` cut to ``room_px`` with an ellipsis ("" when not even that fits)."""
    fits = int(room_px // char_px)
    if fits >= len(text):
        return text
    return "" if fits < 1 else text[: fits - 1].rstrip() + ELLIPSIS


def label_annotations(fig: go.Figure, placed: list[PlacedLabel], *, y: float, yanchor: str, direction: int,
                      font_px: float = 11.0, colors: Mapping[str, str] | None = None, bold: bool = False,
                      row_px: float = 14.0, yref: str = "paper") -> None:
    """Draw ``placed`` labels as annotations: row 0 at ``y``, each next row ``row_px`` further in
    ``direction`` (-1 down, +1 up); the full text on hover."""
    for lab in placed:
        if not lab.text:
            continue
        text = f"<b>{lab.text}</b>" if bold else lab.text
        fig.add_annotation(x=lab.x_s, y=y, yref=yref, xanchor="left", yanchor=yanchor, showarrow=False, text=text,
                           yshift=direction * lab.row * row_px, hovertext=lab.full, borderpad=0,
                           font=dict(size=font_px, color=(colors or {}).get(lab.full, "#222")),
                           bgcolor="rgba(255,255,255,0.65)")


def min_max_envelope(samples: np.ndarray, *, columns: int, peak: float | None = None):
    """(first sample index, min, max) of the mono mix per column, scaled by ``peak`` (the
    audio's own peak when None). Empty audio gives one silent column."""
    y = np.asarray(samples)
    y = y.mean(axis=1) if y.ndim == 2 else y
    if y.size == 0:
        return np.zeros(1, dtype=int), np.zeros(1), np.zeros(1)
    n = max(1, min(columns, y.size))
    edges = np.linspace(0, y.size, n + 1).astype(int)[:-1]
    scale = max(float(np.max(np.abs(y))), 1e-9) if peak is None else peak
    return edges, np.minimum.reduceat(y, edges) / scale, np.maximum.reduceat(y, edges) / scale


def waveform_peaks(samples: np.ndarray, n: int = 1200) -> list[list[float]]:
    """(min, max) per pixel column of the mono mix, scaled to the audio's peak (for the players)."""
    _, lo, hi = min_max_envelope(samples, columns=n)
    return np.round(np.stack([lo, hi], axis=1), 3).tolist()


def chroma_figure(analysis: Analysis, *, max_columns: int = 1500) -> go.Figure:
    """CQT chroma heatmap with the segment boundaries and labels drawn on it."""
    chroma = analysis.chroma
    n = chroma.shape[1]
    step = max(1, int(np.ceil(n / max_columns)))
    if step > 1:
        m = (n // step) * step
        chroma = chroma[:, :m].reshape(12, -1, step).mean(axis=2) if m else chroma
    times = (np.arange(chroma.shape[1]) * step + step / 2) * analysis.chroma_frame_s
    fig = go.Figure(
        go.Heatmap(z=chroma, x=times, y=list(PITCH_CLASSES), colorscale="Magma", zmin=0, zmax=1,
                   showscale=False, hovertemplate="%{x:.1f} s<br>%{y}: %{z:.2f}<extra></extra>")
    )
    segs = analysis.segments
    for start_s in segs["start_s"]:
        if start_s > 0:
            fig.add_vline(x=start_s, line=dict(color="white", width=2, dash="dash"))
    placed = place_labels(segs["start_s"], segs["label"].astype(str), duration_s=analysis.duration_s, width_px=800,
                          font_px=15, bold=True, rows=2)
    label_annotations(fig, placed, y=1.0, yanchor="bottom", direction=1, font_px=15, bold=True, row_px=18,
                      colors=label_colors(segs["label"].astype(str)))
    fig.update_layout(title=dict(text="CQT chroma and form", y=0.97), yaxis_title="pitch class", height=380,
                      margin=dict(l=60, r=20, t=90, b=40), xaxis=clock_axis(analysis.duration_s))
    return fig


def tempo_key_figure(analysis: Analysis) -> go.Figure:
    """Tempo (BPM) and tonic per window over time, with the segments shaded."""
    w = analysis.windows
    centers = (w["start_s"] + w["end_s"]) / 2
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Tempo per window", "Tonic per window"))
    fig.add_trace(go.Scatter(x=centers, y=w["tempo_bpm"], mode="lines+markers", name="tempo (BPM)",
                             hovertemplate="%{x:.0f} s: %{y:.1f} BPM<extra></extra>"), row=1, col=1)
    if np.isfinite(analysis.tempo_bpm):
        fig.add_hline(y=analysis.tempo_bpm, line=dict(color="gray", dash="dot"), row=1, col=1,
                      annotation_text=f"global {analysis.tempo_bpm:.1f} BPM")
    for mode, symbol, color in (("major", "circle", "#f58518"), ("minor", "diamond", "#4c78a8")):
        sel = w["mode"] == mode
        fig.add_trace(go.Scatter(x=centers[sel], y=w["tonic"][sel], mode="markers", name=mode,
                                 marker=dict(symbol=symbol, size=9, color=color),
                                 hovertemplate="%{x:.0f} s: %{y} " + mode + "<extra></extra>"), row=2, col=1)
    tempi = w["tempo_bpm"].dropna()
    if len(tempi):  # at least +-3 BPM visible, so decimals of jitter do not look like swings
        lo, hi = float(tempi.min()), float(tempi.max())
        mid, half = (lo + hi) / 2, max((hi - lo) / 2 * 1.15, 3.0)
        fig.update_yaxes(range=[mid - half, mid + half], row=1, col=1)
    fig.update_yaxes(title_text="BPM", row=1, col=1)
    fig.update_yaxes(title_text="tonic", categoryorder="array", categoryarray=list(PITCH_CLASSES), type="category",
                     row=2, col=1)
    ticks = {k: v for k, v in clock_axis(analysis.duration_s).items() if k != "title"}
    fig.update_xaxes(**ticks)
    fig.update_xaxes(title_text="time (m:ss)", row=2, col=1)
    colors = label_colors(analysis.segments["label"])
    for seg in analysis.segments.itertuples():
        for row in (1, 2):
            fig.add_vrect(x0=seg.start_s, x1=seg.end_s, fillcolor=colors[seg.label], opacity=0.10, line_width=0,
                          row=row, col=1)
    fig.update_layout(height=430, margin=dict(l=60, r=20, t=40, b=40), legend=dict(orientation="h", y=-0.15))
    return fig


def render_figure(result, *, width_px: float = 300) -> go.Figure:
    """A render's loudness envelope with its regions and sections (intro, build, climax...);
    section names in rows that never overlap on a plot ``width_px`` wide or wider."""
    y = result.audio.mean(axis=1)
    hop = max(1, int(result.sample_rate * 0.05))
    n = y.size // hop
    env = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(1)
    db = 20 * np.log10(np.maximum(env, 1e-5))
    t = (np.arange(db.size) + 0.5) * hop / result.sample_rate
    fig = go.Figure(go.Scatter(x=t, y=db, mode="lines", line=dict(color="#4a4e69", width=1), name="level (dBFS)",
                               customdata=[clock(v) for v in t], hovertemplate="%{customdata}: %{y:.1f} dBFS"
                               "<extra></extra>"))
    section_colors = {"intro": "#72b7b2", "build": "#4c78a8", "climax": "#e45756", "breakdown": "#b279a2",
                      "ending": "#54a24b"}
    starts, names = [], []
    for region in result.regions:
        for sec in region.sections:
            fig.add_vrect(x0=region.start_s + sec.start_s, x1=region.start_s + sec.end_s,
                          fillcolor=section_colors.get(sec.name, "#bab0ac"), opacity=0.08 + 0.17 * sec.intensity,
                          line_width=0)
            starts.append(region.start_s + sec.start_s)
            names.append(sec.name)
        if region.start_s > 0:
            fig.add_vline(x=region.start_s, line=dict(color="black", width=2))
    placed = place_labels(starts, names, duration_s=result.duration_s, width_px=width_px, font_px=10)
    label_annotations(fig, placed, y=1.0, yanchor="top", direction=-1, font_px=10, row_px=13)
    fig.update_layout(height=230, margin=dict(l=50, r=20, t=30, b=35), yaxis_title="dBFS", showlegend=False,
                      yaxis=dict(range=[-60, 0]), xaxis=clock_axis(result.duration_s))
    return fig


def stems_figure(mixture: np.ndarray, stems, *, sample_rate: int, columns: int = 1200) -> go.Figure:
    """The mixture's waveform and each stem's below it, on one time axis and one amplitude scale.

    ``stems`` maps a stem name to samples ``(n, channels)``; each row shows the min/max envelope
    of the mono mix per pixel column, so a stem's share of the mixture is visible at a glance.
    """
    rows = [("mixture", mixture)] + list(stems.items())
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        subplot_titles=[name for name, _ in rows])
    peak = max(float(np.max(np.abs(mixture))) if mixture.size else 0.0, 1e-9)
    for i, (name, audio) in enumerate(rows, start=1):
        edges, lo, hi = min_max_envelope(audio, columns=columns, peak=peak)
        t = edges / float(sample_rate)
        colour = PALETTE[(i - 1) % len(PALETTE)]
        fig.add_trace(go.Scatter(x=t, y=hi, mode="lines", line=dict(color=colour, width=0.5), showlegend=False,
                                 hoverinfo="skip"), row=i, col=1)
        fig.add_trace(go.Scatter(x=t, y=lo, mode="lines", line=dict(color=colour, width=0.5), fill="tonexty",
                                 showlegend=False, name=name, hovertemplate="%{x:.1f} s<extra>" + name + "</extra>"),
                      row=i, col=1)
        fig.update_yaxes(range=[-1.05, 1.05], showticklabels=False, row=i, col=1)
    fig.update_xaxes(**{k: v for k, v in clock_axis(mixture.shape[0] / float(sample_rate)).items() if k != "title"})
    fig.update_xaxes(title_text="time (m:ss)", row=len(rows), col=1)
    fig.update_layout(height=110 * len(rows) + 40, margin=dict(l=20, r=20, t=30, b=35))
    return fig


# ---------------------------------------------------------------------------- models
LANE_TARGETS = ("genre", "subgenre", "mood", "sentiment", "valence", "momentum")


#: One palette per lane (plotly's qualitative sets): a colour means one label in one lane only.
LANE_PALETTES = (qualitative.T10, qualitative.Set2, qualitative.Dark2, qualitative.Set1, qualitative.Pastel,
                 qualitative.Safe)
LANE_PX, LEGEND_ROW_PX, LANE_GAP_PX, LANES_TOP_PX, LANES_WIDTH_PX = 30, 26, 6, 50, 480
#: LANES_WIDTH_PX: the legend width a lane reserves rows for: the chart at the narrowest window the
#: pages are checked at (1024 px, tests/test_browser_walkthrough.py), less the legend title.


def _legend_rows(labels, *, width_px: float = LANES_WIDTH_PX, font_px: float = 10.0) -> int:
    """Rows a horizontal legend of ``labels`` takes (symbol and gap about 40 px an entry)."""
    widths = [len(str(lab)) * font_px * CHAR_EM + 40 for lab in labels]
    rows, used = 1, 0.0
    for w in widths:
        if used and used + w > width_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def prediction_lanes_figure(windows, *, duration_s: float) -> go.Figure:
    """One lane per target over time: each window's label as a coloured cell, and above each lane
    its own legend (its own colours); valence and momentum as words; hover: label, m:ss, probability.

    Cells are one hop wide around each window's centre, so the lanes line up with the chroma
    and the segments.
    """
    w = windows
    centers = ((w["start_s"] + w["end_s"]) / 2).to_numpy()
    hop = float(np.median(np.diff(w["start_s"]))) if len(w) > 1 else float(w["end_s"].iloc[0])
    clocks = np.array([clock(c) for c in centers])
    lanes = [(t, w[t].astype(str).map(lambda v, t=t: level_word(t, v))) for t in LANE_TARGETS]
    heights = [_legend_rows(dict.fromkeys(labels)) * LEGEND_ROW_PX + LANE_PX + LANE_GAP_PX for _, labels in lanes]
    total = float(sum(heights))
    fig, top = go.Figure(), 0.0
    for i, ((target, labels), height) in enumerate(zip(lanes, heights), start=1):
        axis, legend = f"y{i}" if i > 1 else "y", f"legend{i}" if i > 1 else "legend"
        raw = w[target].astype(str).to_numpy()
        for j, label in enumerate(dict.fromkeys(labels)):
            palette = LANE_PALETTES[(i - 1) % len(LANE_PALETTES)]
            sel = (labels == label).to_numpy()
            shown = label if label == raw[sel][0] else f"{label} ({raw[sel][0]})"
            fig.add_trace(go.Bar(
                x=np.full(sel.sum(), hop), base=centers[sel] - hop / 2, y=[target] * int(sel.sum()), orientation="h",
                marker=dict(color="#d0d0d0" if label == "unknown" else palette[j % len(palette)], line=dict(width=0)),
                name=label, legend=legend, yaxis=axis, customdata=np.stack([clocks[sel], w[f"{target}_prob"].to_numpy()[
                    sel].round(2).astype(str)], axis=1),
                hovertemplate=f"{target}: {shown}<br>%{{customdata[0]}}, p=%{{customdata[1]}}<extra></extra>"))
        lane_top = top + height - LANE_PX - LANE_GAP_PX
        fig.update_layout({f"yaxis{i if i > 1 else ''}": dict(
            domain=[1 - (lane_top + LANE_PX) / total, 1 - lane_top / total], anchor="x", fixedrange=True),
            legend: dict(orientation="h", x=0, xanchor="left", y=1 - top / total, yanchor="top",
                         font=dict(size=10), title=dict(text=f"{target}:", font=dict(size=10)),
                         bgcolor="rgba(0,0,0,0)")})
        top += height
    # showlegend: plotly hides the first legend when it holds one entry (a track all one genre)
    fig.update_layout(barmode="overlay", bargap=0.15, height=int(total) + LANES_TOP_PX + 40, showlegend=True,
                      title="Predictions per window", xaxis={**clock_axis(duration_s), "anchor": f"y{len(lanes)}"},
                      margin=dict(l=80, r=20, t=LANES_TOP_PX, b=40))
    return fig


def metrics_figure(models) -> go.Figure:
    """Held-out window and render accuracy per target, one bar group per model."""
    fig = go.Figure()
    for m in models:
        for level, pattern in (("window_accuracy", ""), ("render_accuracy", "/")):
            fig.add_trace(go.Bar(x=list(LANE_TARGETS), y=[m.metrics[t][level] for t in LANE_TARGETS],
                                 name=f"{m.name} ({level.split('_')[0]})", marker_pattern_shape=pattern,
                                 hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(barmode="group", height=340, yaxis=dict(range=[0, 1], title="accuracy on held-out renders"),
                      margin=dict(l=60, r=20, t=30, b=40))
    return fig


def _confusion_heatmap(cm: np.ndarray, *, rows: list, columns: list, title: str) -> go.Figure:
    """A confusion matrix (true labels down, predicted across), each row normalised to 1, counts written in."""
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(z=norm, x=columns, y=rows, colorscale="Blues", zmin=0, zmax=1, text=cm.astype(int),
                               texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}: %{z:.2f}"
                               "<extra></extra>"))
    fig.update_layout(title=title, height=120 + 28 * len(rows), xaxis_title="predicted", yaxis_title="true",
                      yaxis=dict(autorange="reversed"), margin=dict(l=120, r=20, t=50, b=80))
    return fig


def confusion_figure(model, target: str) -> go.Figure:
    m = model.metrics[target]
    labels = m["labels"]
    cm = np.asarray(m["confusion"], dtype=float)[: len(labels)]
    return _confusion_heatmap(cm, rows=labels, columns=labels + ["unknown"],
                              title=f"{model.name}: {target} (held-out windows, rows sum to 1)")


def comparison_confusion_figure(matrix: pd.DataFrame, *, title: str) -> go.Figure:
    """A comparison's confusion matrix (``Comparison.confusion[model]``: rows true, columns predicted)."""
    return _confusion_heatmap(matrix.to_numpy(dtype=float), rows=[str(v) for v in matrix.index],
                              columns=[str(v) for v in matrix.columns], title=title)


def comparison_figure(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Each model's held-out accuracy per window and per track, and its per-track LRAP, side by side."""
    fig = go.Figure()
    figures = (("window_accuracy", "accuracy per window"), ("track_accuracy", "accuracy per track"),
               ("track_lrap", "LRAP per track"))
    for i, (column, name) in enumerate(figures):
        fig.add_trace(go.Bar(x=table["model"].astype(str), y=table[column], name=name, marker_color=PALETTE[i],
                             hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(title=title, barmode="group", yaxis=dict(range=[0, 1], title="share"), height=360,
                      margin=dict(l=60, r=20, t=50, b=60), legend=dict(orientation="h", y=-0.2))
    return fig


def embedding_figure(model, *, method: str = "tsne") -> go.Figure:
    xy = model.extras[f"map_{method}"]
    genres = model.extras["map_genre"]
    names = model.extras["map_descriptor"]
    fig = go.Figure()
    for i, g in enumerate(sorted(set(genres))):
        sel = genres == g
        fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=g, text=names[sel],
                                   marker=dict(size=5, color=PALETTE[i % len(PALETTE)], opacity=0.75),
                                   hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=f"Window features ({'t-SNE' if method == 'tsne' else 'PCA'}), coloured by genre",
                      height=480, margin=dict(l=40, r=20, t=50, b=40), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False))
    return fig


def distance_figure(model, *, names=None) -> go.Figure:
    all_names = list(model.extras["descriptor_names"])
    dist = model.extras["descriptor_distance"]
    idx = [all_names.index(n) for n in names] if names else list(range(len(all_names)))
    sub = dist[np.ix_(idx, idx)]
    labels = [all_names[i] for i in idx]
    fig = go.Figure(go.Heatmap(z=sub, x=labels, y=labels, colorscale="Viridis_r", zmin=0, zmax=1,
                               hovertemplate="%{y}<br>%{x}<br>distance %{z:.2f}<extra></extra>"))
    fig.update_layout(title=f"Descriptor distances as {model.name} hears them (0 = indistinguishable)",
                      height=max(420, 16 * len(labels) + 160), margin=dict(l=260, r=20, t=50, b=200),
                      yaxis=dict(autorange="reversed"))
    return fig


# ------------------------------------------------------------------------------ loop
def loop_summary_figure(single_mean: dict, multi_mean: dict, *, targets_single: dict, targets_multi: dict,
                        amper_single: dict, amper_multi: dict) -> go.Figure:
    """Single-region accuracy and multi-region consistency per target (mean over titles), with
    the issue's targets (ticks) and the Amper study's figures (diamonds)."""
    names = list(targets_single)
    fig = go.Figure()
    for label, values, target, amper, colour in (
        ("sounds like the style asked for", single_mean, targets_single, amper_single, PALETTE[0]),
        ("stitched render keeps each section's style", multi_mean, targets_multi, amper_multi, PALETTE[1]),
    ):
        fig.add_bar(x=names, y=[values.get(n, 0.0) for n in names], name=label, marker_color=colour,
                    offsetgroup=label, hovertemplate="%{x}: %{y:.3f}<extra>" + label + "</extra>")
        short = "one style" if amper is amper_single else "stitched"
        fig.add_scatter(x=names, y=[target[n] for n in names], mode="markers", name=f"target ({short})",
                        marker=dict(symbol="line-ew-open", size=26, color=colour, line=dict(width=3)),
                        offsetgroup=label, hovertemplate="target %{y:.2f}<extra></extra>")
        fig.add_scatter(x=names, y=[amper[n] for n in names], mode="markers",
                        name=f"published figures ({short})", offsetgroup=label,
                        marker=dict(symbol="diamond", size=9, color="white", line=dict(color=colour, width=2)),
                        hovertemplate="published %{y:.3f}<extra></extra>")
    fig.update_layout(title="The loop: renders judged by the same model", barmode="group", height=360,
                      yaxis=dict(range=[0, 1.05], title="share"), margin=dict(l=50, r=20, t=50, b=40),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def loop_titles_figure(summary, *, title: str) -> go.Figure:
    """Per title (rows of a loop summary table, without the "mean" row): one bar group per target."""
    rows = summary[summary["title"] != "mean"]
    fig = go.Figure()
    for i, target in enumerate(c for c in summary.columns if c != "title"):
        fig.add_bar(x=rows["title"], y=rows[target], name=target, marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{x}: %{y:.3f}<extra>" + target + "</extra>")
    fig.update_layout(title=title, barmode="group", height=320, yaxis=dict(range=[0, 1.05]),
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


# ---------------------------------------------------------------------------- listening
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


def overlay_figure(reference, render, *, segments: pd.DataFrame | None = None, columns: int = 1500,
                   reference_name: str = "reference", render_name: str = "render", width_px: float = 840) -> go.Figure:
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
    width_px : float
        The narrowest plot width the figure is drawn at: region and segment names are placed in rows
        so they never overlap at that width or wider (:func:`place_labels`).
    """
    fig = go.Figure()
    for name, samples, rate, colour, opacity in (
        (reference_name, reference.samples, reference.sample_rate, "#4c78a8", 0.55),
        (render_name, render.audio, render.sample_rate, "#f58518", 0.45),
    ):
        edges, lo, hi = min_max_envelope(samples, columns=columns)
        t = edges / float(rate)
        fig.add_trace(go.Scatter(x=t, y=hi, mode="lines", line=dict(color=colour, width=0.5), opacity=opacity,
                                 legendgroup=name, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=t, y=lo, mode="lines", line=dict(color=colour, width=0.5), opacity=opacity,
                                 fill="tonexty", name=name, legendgroup=name,
                                 hovertemplate="%{x:.1f} s<extra>" + name + "</extra>"))
    duration_s = max(reference.samples.shape[0] / reference.sample_rate, render.audio.shape[0] / render.sample_rate)
    for region in render.regions:
        if region.start_s > 0:
            fig.add_vline(x=region.start_s, line=dict(color="black", width=2, dash="dash"))
    placed = place_labels([r.start_s for r in render.regions], [r.descriptor.replace("_", " ") for r in render.regions],
                          duration_s=duration_s, width_px=width_px)
    label_annotations(fig, placed, y=1.0, yanchor="top", direction=-1)
    if segments is not None and len(segments):
        colours = label_colors(segments["label"].astype(str))
        for seg in segments.itertuples():
            if seg.start_s > 0:
                fig.add_vline(x=seg.start_s, line=dict(color=colours[str(seg.label)], width=1, dash="dot"))
        placed = place_labels(segments["start_s"], segments["label"].astype(str), duration_s=duration_s,
                              width_px=width_px, font_px=13, bold=True, rows=2)
        label_annotations(fig, placed, y=0.0, yanchor="bottom", direction=1, font_px=13, bold=True, row_px=16,
                          colors=colours)
    fig.update_layout(title=dict(text="Reference and render overlaid, with the region boundaries", y=0.97),
                      height=360, margin=dict(l=40, r=20, t=70, b=40), xaxis=clock_axis(duration_s),
                      yaxis=dict(range=[-1.5, 1.5], showticklabels=False),
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def real_genre_figure(table: pd.DataFrame, *, duration_s: float) -> go.Figure:
    """The real-music genre model's probabilities per window (a row per GTZAN genre), with the
    window's strongest musicnn tags on hover. Windows the model calls unknown (``real_unknown``:
    unlike the music it learnt from, or silent) are a grey cell in a row "unknown" on top, their
    genre rows left empty."""
    genres = [c[2:] for c in table.columns if c.startswith("p_")]
    centres = ((table["start_s"] + table["end_s"]) / 2).to_numpy()
    unknown = table["real_unknown"].to_numpy(dtype=bool) if "real_unknown" in table else np.zeros(len(table), bool)
    z = np.stack([table[f"p_{g}"].to_numpy(dtype=float) for g in genres]) if genres else np.zeros((0, len(table)))
    z[:, unknown] = np.nan
    tags = np.tile(table["tags"].astype(str).to_numpy(), (len(genres), 1))
    fig = go.Figure(go.Heatmap(z=z, x=centres, y=genres, customdata=tags, colorscale="Blues", zmin=0, zmax=1,
                               colorbar=dict(title="prob.", thickness=10), hoverongaps=False,
                               hovertemplate="%{x:.0f} s · %{y} %{z:.2f}<br>tags: %{customdata}<extra></extra>"))
    if unknown.any():
        fig.add_trace(go.Heatmap(z=[np.where(unknown, 1.0, np.nan)], x=centres, y=["unknown"], zmin=0, zmax=1,
                                 colorscale=[[0, "#b0b0b0"], [1, "#b0b0b0"]], showscale=False, hoverongaps=False,
                                 customdata=[table["tags"].astype(str).to_numpy()],
                                 hovertemplate="%{x:.0f} s · unknown: unlike the music the model learnt from"
                                               "<br>tags: %{customdata}<extra></extra>"))
    fig.update_layout(title="Genre heard by the real-music model (GTZAN's 10 genres), per window", height=320,
                      margin=dict(l=80, r=20, t=50, b=40), xaxis=clock_axis(duration_s))
    return fig


# ---------------------------------------------------------------------------- covers
def _note_lines(notes) -> tuple[list, list, list]:
    """x, y, hover text of notes as horizontal segments (None between them: one trace for all)."""
    x, y, text = [], [], []
    for n in notes:
        name = f"{PITCH_CLASSES[n.pitch % 12]}{n.pitch // 12 - 1}"
        x += [n.start_s, n.end_s, None]
        y += [n.pitch, n.pitch, None]
        text += [f"{name} at {n.start_s:.2f} s", f"{name} until {n.end_s:.2f} s", None]
    return x, y, text


def leadsheet_figure(sheet, samples: np.ndarray, sample_rate: int, *, columns: int = 1200) -> go.Figure:
    """A lead sheet over the track's waveform on one time axis: the waveform with the form's
    sections, then a piano roll of the melody and the bass with the chords written above it."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.25, 0.75])
    edges, lo, hi = min_max_envelope(samples, columns=columns)
    t = edges / float(sample_rate)
    fig.add_trace(go.Scatter(x=t, y=hi, mode="lines", line=dict(color="#888", width=0.5), showlegend=False,
                             hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=lo, mode="lines", line=dict(color="#888", width=0.5), fill="tonexty",
                             showlegend=False, hoverinfo="skip"), row=1, col=1)
    colours = label_colors([label for _, _, label in sheet.sections])
    for start, end, label in sheet.sections:
        fig.add_vrect(x0=start, x1=end, fillcolor=colours[label], opacity=0.18, line_width=0, row=1, col=1)
    for name, notes, colour, width in (("melody", sheet.melody, PALETTE[0], 5), ("bass", sheet.bass, PALETTE[1], 4)):
        x, y, text = _note_lines(notes)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=width), name=name,
                                 hovertemplate="%{text}<extra>" + name + "</extra>", text=text), row=2, col=1)
    top = max([n.pitch for n in sheet.melody] + [72]) + 3
    chords = [(s, label) for s, _, label in sheet.chord_segments() if label != "N"]
    fig.add_trace(go.Scatter(x=[s for s, _ in chords], y=[top] * len(chords), mode="text",
                             text=[label.replace(":maj", "").replace(":min", "m") for _, label in chords],
                             textposition="middle right", textfont=dict(size=10), name="chords",
                             hovertemplate="%{text} from %{x:.1f} s<extra>chord</extra>"), row=2, col=1)
    fig.update_yaxes(range=[-1.05, 1.05], showticklabels=False, row=1, col=1)
    fig.update_yaxes(title_text="pitch (MIDI)", range=[min([n.pitch for n in sheet.bass] + [36]) - 2, top + 3], row=2, col=1)
    fig.update_xaxes(**{k: v for k, v in clock_axis(samples.shape[0] / float(sample_rate)).items() if k != "title"})
    fig.update_xaxes(title_text="time (m:ss)", row=2, col=1)
    fig.update_layout(height=420, margin=dict(l=20, r=20, t=20, b=35), legend=dict(orientation="h", y=1.08))
    return fig


def taste_colors(genres) -> dict[str, str]:
    """A colour per genre of a taste profile, the same in every chart (by name; ``unknown`` grey)."""
    colors = label_colors(sorted({str(g) for g in genres} - {"unknown"}))
    return dict(colors, unknown="#9a9a9a")


def taste_distribution_figure(summary: Mapping) -> go.Figure:
    """A taste profile (``TasteProfile.summary()``, profile.json): the share of tracks per genre of
    the real-music model (left) and, per catalog genre, the share of tracks and the taste weight
    with the library's cover targets marked (right)."""
    genres = list(summary.get("genres", []))
    catalog = list(summary.get("catalog_genres", []))
    targets = {t["genre"] for t in summary.get("cover_targets", [])}
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.18,
                        subplot_titles=("Tracks per genre (real-music model)", "Catalog genres: tracks and taste"))
    colors = taste_colors(g["genre"] for g in genres)
    fig.add_trace(go.Bar(y=[g["genre"] for g in genres], x=[g["share"] for g in genres], orientation="h",
                         marker_color=[colors[g["genre"]] for g in genres], customdata=[g["tracks"] for g in genres],
                         hovertemplate="%{y}: %{x:.0%} of the tracks (%{customdata})<extra></extra>", showlegend=False),
                  row=1, col=1)
    names = [c["genre"] + (" (cover target)" if c["genre"] in targets else "") for c in catalog]
    fig.add_trace(go.Bar(y=names, x=[c["share"] for c in catalog], orientation="h", name="share of tracks",
                         marker_color=PALETTE[0], hovertemplate="%{y}: %{x:.0%} of the tracks<extra></extra>"),
                  row=1, col=2)
    fig.add_trace(go.Bar(y=names, x=[c["taste_weight"] for c in catalog], orientation="h", name="taste weight",
                         marker_color=PALETTE[1], hovertemplate="%{y}: taste weight %{x:.2f}<extra></extra>"),
                  row=1, col=2)
    rows = max(len(genres), len(catalog), 1)
    fig.update_layout(height=120 + 26 * rows, barmode="group", margin=dict(l=150, r=20, t=50, b=40),
                      legend=dict(orientation="h", y=-0.15))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    return fig


def taste_map_figure(points: pd.DataFrame) -> go.Figure:
    """The library in embedding space (``TasteProfile.map_points()``): a point per track on the
    first two principal components of its mean musicnn embedding, coloured by genre; the file,
    descriptor and cover target on hover."""
    explained = list(points.attrs.get("explained", [0.0, 0.0])) + [0.0, 0.0]
    fig = go.Figure()
    colors = taste_colors(points["genre"])
    for genre, group in points.groupby("genre", sort=True):
        fig.add_trace(go.Scatter(
            x=group["pc1"], y=group["pc2"], mode="markers", name=str(genre), marker=dict(size=11, color=colors[genre]),
            customdata=np.stack([group["file"], group["descriptor"], group["cover_target"]], axis=1),
            hovertemplate="%{customdata[0]}<br>" + str(genre) + " · %{customdata[1]}<br>cover target: "
                          "%{customdata[2]}<extra></extra>"))
    fig.update_layout(title="The library in musicnn's embedding space (PCA of each track's mean)", height=460,
                      margin=dict(l=60, r=20, t=50, b=50),
                      xaxis=dict(title=f"component 1 ({explained[0]:.0%} of the variance)", zeroline=False),
                      yaxis=dict(title=f"component 2 ({explained[1]:.0%} of the variance)", zeroline=False))
    return fig
