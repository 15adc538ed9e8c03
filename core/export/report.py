"""The stakeholder report: one self-contained HTML file per reference track or per project.

The file opens offline in a browser, straight from disk: it holds the track's analysis figures
(chroma and form, tempo and key per window), its form (the sections and which of them repeat), a
player for the original and for each render and cover linked to it, and the blind A/B results
(per version, and every vote with its listener and note). Audio is embedded as OGG Opus
``data:`` URIs (about 64 kbit/s stereo: roughly 0.5 MB a minute); the charts' library
(plotly.js, read from the installed plotly package, about 4.8 MB) is inline once per file. Nothing
in the file refers to another server. What the store lacks (an analysis never made, a render
that cannot be read back) is said in the file, in place of its part.

The page text is ``assets/export_template.html`` (its placeholders are checked when it is read).
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import soundfile as sf
from plotly.offline import get_plotlyjs

from core.analysis.analyze import AnalysisOptions
from core.describe.describe import description_from_bytes
from core.describe.predict import top_descriptors
from core.errors import StudioError
from core.paths import ASSETS
from core.plots import (
    chroma_figure,
    clock,
    label_colors,
    prediction_lanes_figure,
    render_figure,
    tempo_key_figure,
    vote_figure,
)
from core.progress import scaled
from core.workflow.audition import KIND_WORDS, page_names
from core.workflow.listen import listeners, version_id, vote_summary, vote_table
from core.workflow.overview import headline

TEMPLATE_PATH = ASSETS / "export_template.html"
#: The template's placeholders, each written ``{{name}}`` exactly once.
PLACEHOLDERS = ("title", "plotly_js", "heading", "lede", "body", "footer")
#: Opus is written at 48 kHz; compression level 0.9 gives about 64 kbit/s stereo (measured: 80 kB
#: for 10 s of a rendered piece, where OGG Vorbis at its default quality took 155 kB).
OPUS_RATE_HZ = 48_000
OPUS_COMPRESSION_LEVEL = 0.9
#: What a Plotly chart in the file may do: no logo link to plotly.com, resize with the window.
FIGURE_CONFIG = {"displaylogo": False, "responsive": True}


class ExportError(StudioError):
    """A report cannot be made: an unknown track or project, or a damaged template."""


@dataclass(frozen=True)
class ReportPart:
    """One piece of a report and its size in the file: kind is audio, figure, library or text."""

    label: str
    kind: str
    size_bytes: int


@dataclass(frozen=True)
class Report:
    """A finished report: its HTML text, what it is made of, and what the store lacked."""

    title: str
    html: str
    parts: tuple[ReportPart, ...]
    missing: tuple[str, ...]

    @property
    def size_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    def sizes(self) -> dict[str, int]:
        """Bytes per kind of part (audio, figure, library), and ``text`` for the rest of the file."""
        out: dict[str, int] = {}
        for part in self.parts:
            out[part.kind] = out.get(part.kind, 0) + part.size_bytes
        out["text"] = max(0, self.size_bytes - sum(out.values()))
        return out

    def file_name(self) -> str:
        """A file name for the report, from its title ("Client demo_report.html")."""
        stem = re.sub(r"[^\w\- ]+", "_", self.title).strip(" _") or "studio"
        return f"{stem[:60]}_report.html"

    def size_words(self) -> str:
        """'4.9 MB (audio 1.2 MB, charts 0.3 MB, chart library 4.8 MB)'."""
        sizes = self.sizes()
        words = {"audio": "audio", "figure": "charts", "library": "chart library"}
        inner = ", ".join(f"{w} {_mb(sizes[k])}" for k, w in words.items() if sizes.get(k))
        return f"{_mb(self.size_bytes)} ({inner})" if inner else _mb(self.size_bytes)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


@lru_cache(maxsize=1)
def load_template() -> str:
    """``assets/export_template.html``, checked: every placeholder exactly once, no other."""
    try:
        text = TEMPLATE_PATH.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{TEMPLATE_PATH.name} cannot be read ({exc}); restore it from the repository.") from None
    found = re.findall(r"\{\{(\w+)\}\}", text)
    wrong = sorted({n for n in PLACEHOLDERS if found.count(n) != 1} | (set(found) - set(PLACEHOLDERS)))
    if wrong:
        raise ExportError(f"{TEMPLATE_PATH.name} needs each of {', '.join(PLACEHOLDERS)} written once as "
                          f"{{{{name}}}} (wrong: {', '.join(wrong)}); restore it from the repository.")
    return text


def fill_template(values: dict[str, str]) -> str:
    """The template with its placeholders replaced (in one pass: a value is never read again)."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], load_template())


def opus_bytes(samples: np.ndarray, sample_rate: int, *, block: int = 8192) -> bytes:
    """Audio as OGG Opus at 48 kHz (resampled when needed), written in blocks (see
    :func:`core.audio.load.to_ogg_bytes` on the encoder's stack)."""
    y = np.asarray(samples, dtype=np.float32)
    y = y[:, None] if y.ndim == 1 else y
    if sample_rate != OPUS_RATE_HZ:
        import soxr

        y = np.asarray(soxr.resample(y, sample_rate, OPUS_RATE_HZ), dtype=np.float32).reshape(-1, y.shape[1])
    y = np.clip(y, -1.0, 1.0)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=OPUS_RATE_HZ, channels=y.shape[1], format="OGG", subtype="OPUS",
                      compression_level=OPUS_COMPRESSION_LEVEL) as out:
        for i in range(0, y.shape[0], block):
            out.write(y[i: i + block])
    return buf.getvalue()


class _Parts:
    """Collects the parts of one file (sizes, what is missing) and numbers its charts."""

    def __init__(self):
        self.parts: list[ReportPart] = []
        self.missing: list[str] = []
        self._charts = 0

    def figure(self, fig, label: str) -> str:
        self._charts += 1
        text = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self._charts}",
                           config=FIGURE_CONFIG)
        self.parts.append(ReportPart(label, "figure", len(text.encode("utf-8"))))
        return text

    def player(self, samples: np.ndarray, sample_rate: int, label: str) -> str:
        uri = "data:audio/ogg;codecs=opus;base64," + base64.b64encode(opus_bytes(samples, sample_rate)).decode()
        self.parts.append(ReportPart(label, "audio", len(uri)))
        return f'<audio controls preload="metadata" src="{uri}" title="{_esc(label)}"></audio>'

    def lacks(self, what: str) -> str:
        self.missing.append(what)
        return f'<p class="missing">{_esc(what)}</p>'


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _facts(analysis) -> str:
    items = "".join(f"<li><b>{_esc(value)}</b><span>{_esc(label)}</span></li>"
                    for label, value, _ in headline(analysis))
    return f'<ul class="facts">{items}</ul>'


def form_rows(segments) -> list[dict]:
    """The form in words: each section's start and end (m:ss), its label, and whether it repeats
    an earlier section ("repeats the section at 0:12") or comes back later."""
    labels = [str(x) for x in segments["label"]]
    first: dict[str, float] = {}
    rows = []
    for start_s, end_s, label in zip(segments["start_s"], segments["end_s"], labels):
        if label in first:
            repeat = f"repeats the section at {clock(first[label])}"
        else:
            first[label] = float(start_s)
            repeat = "comes back later" if labels.count(label) > 1 else "heard once"
        rows.append({"start": clock(float(start_s)), "end": clock(float(end_s)), "label": label, "repeat": repeat})
    return rows


def _form_table(segments) -> str:
    colors = label_colors([str(x) for x in segments["label"]])
    body = "".join(
        f'<tr><td>{r["start"]}</td><td>{r["end"]}</td><td><span class="swatch" style="background:'
        f'{colors[r["label"]]}"></span>{_esc(r["label"])}</td><td>{_esc(r["repeat"])}</td></tr>'
        for r in form_rows(segments))
    kinds = len(colors)
    return (f"<h3>Form</h3><p class=\"note\">{len(segments)} sections of {kinds} kind{'s' if kinds != 1 else ''}: "
            "sections with the same letter sound alike.</p>"
            f"<table><tr><th>from</th><th>to</th><th>section</th><th></th></tr>{body}</table>")


def stored_style(store, track_hash: str, analysis):
    """(the windows with their style predictions, the model's name) of the newest description of
    the track stored on this analysis' grid, or None when there is none."""
    for key in store.descriptions_of(track_hash):
        data = store.get_description(track_hash, key)
        try:
            predictions, _, model_name = description_from_bytes(data) if data else (None, None, "")
        except (ValueError, KeyError, TypeError):
            continue
        if predictions is not None and len(predictions) == len(analysis.windows):
            windows = pd.concat([analysis.windows.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
            return windows, model_name
    return None


def _style_part(store, track_hash: str, analysis, parts: _Parts) -> str:
    found = stored_style(store, track_hash, analysis)
    if found is None:
        return ('<h3>Style</h3><p class="note">No style predictions stored for this track: classify it on the '
                "Analyze page (choose a model) to include them.</p>")
    windows, model_name = found
    try:
        top = [name.replace("_", " ") for name in top_descriptors(windows, n=3)]
    except StudioError:  # predictions without descriptors: the lanes alone
        top = []
    words = f"Most frequent styles: {'; '.join(top)}. " if top else ""
    return (f'<h3>Style</h3><p class="note">{_esc(words)}Predicted per window by the model {_esc(model_name)}.</p>'
            + parts.figure(prediction_lanes_figure(windows, duration_s=analysis.duration_s), "style"))


def _analysis_part(store, track_hash: str, parts: _Parts, *, options: AnalysisOptions) -> str:
    analysis = store.get_analysis(track_hash, options)
    if analysis is None:
        return parts.lacks("This track has not been analysed yet (with the default options): open it on the "
                           "Analyze page, then make the report again.")
    return "".join([_facts(analysis), "<h3>Harmony and form</h3>", parts.figure(chroma_figure(analysis), "chroma"),
                    "<h3>Tempo and key over time</h3>", parts.figure(tempo_key_figure(analysis), "tempo and key"),
                    _form_table(analysis.segments), _style_part(store, track_hash, analysis, parts)])


def _versions_part(store, track, track_hash: str, parts: _Parts, *, names: dict, linked: list,
                   progress=None) -> str:
    out = ["<h3>Versions</h3>"]
    steps = 1 + len(linked)
    if track is None:
        out.append(parts.lacks("The original recording is no longer in the library: upload it again to hear it "
                               "here."))
    else:
        out.append(f'<div class="version"><b>Original</b> · {_esc(track.name)}<br>'
                   f'{parts.player(track.samples, track.sample_rate, "original")}</div>')
    for n, row in enumerate(linked, start=1):
        if progress:
            progress(n / steps, f"encoding version {n} of {len(linked)}")
        name = names.get(version_id(row["render_key"]), row["label"] or row["render_key"][:10])
        render = store.get_render(row["render_key"])
        kind = KIND_WORDS.get(row["kind"], row["kind"])
        if render is None:
            out.append(parts.lacks(f"The {kind} version '{name}' cannot be read back from the store: render it "
                                   "again."))
            continue
        out.append(f'<div class="version"><b>{_esc(name)}</b> · {_esc(kind)} · {render.duration_s:.0f} s · seed '
                   f'{render.seed}<br>{parts.player(render.audio, render.sample_rate, name)}'
                   f'{parts.figure(render_figure(render, width_px=900), name)}</div>')
    if not linked:
        out.append('<p class="note">No renders or covers of this track yet.</p>')
    return "".join(out)


def _votes_part(votes: list, parts: _Parts, *, names: dict) -> str:
    out = ["<h3>Blind A/B listening</h3>"]
    if not votes:
        return out[0] + '<p class="note">No blind A/B votes on this track yet (Listen page).</p>'
    try:
        summary = vote_summary(votes)
    except StudioError as exc:
        return out[0] + parts.lacks(f"The stored votes of this track could not be summarised: {exc}")
    shown = summary.assign(version=[names.get(v, v) for v in summary["version_id"]])
    out.append(f'<p class="note">{len(votes)} vote{"s" if len(votes) != 1 else ""}: versions were played '
               "blind (as letters), loudness matched. Score: wins plus half the ties, over the comparisons.</p>")
    out.append(shown[["version", "wins", "losses", "ties", "comparisons", "score"]].to_html(
        index=False, border=0, escape=True, float_format=lambda x: f"{x:.2f}"))
    out.append(parts.figure(vote_figure(summary, names=names), "votes"))
    out.append("<h3>Every vote, with its listener and note</h3>")
    out.append(vote_table(votes, names=names).to_html(index=False, border=0, escape=True))
    return "".join(out)


def _track_section(store, track_hash: str, parts: _Parts, *, options: AnalysisOptions, progress=None) -> str:
    row = next((t for t in store.list_tracks() if t["content_hash"] == track_hash), None)
    if row is None:
        raise ExportError(f"There is no track {track_hash[:12]!r} in the library: upload it on the Analyze page "
                          "(or give the hash of a stored track), then make the report again.")
    track = store.get_track(track_hash)
    linked = store.renders_of(track_hash)
    names = page_names(linked, store.list_renders(limit=10_000))[2]
    if progress:
        progress(0.0, f"{row['name']}: charts")
    body = [f'<section id="track-{track_hash[:12]}"><h2>{_esc(row["name"])}</h2>',
            _analysis_part(store, track_hash, parts, options=options),
            _versions_part(store, track, track_hash, parts, names=names, linked=linked,
                           progress=scaled(progress, 0.05, 0.95)),
            _votes_part(store.votes(track_hash), parts, names=names), "</section>"]
    if progress:
        progress(1.0, f"{row['name']}: done")
    return "".join(body)


def _finish(title: str, lede: str, body: str, parts: _Parts) -> Report:
    library = get_plotlyjs()
    parts.parts.append(ReportPart("plotly.js", "library", len(library.encode("utf-8"))))
    footer = (f"Made by Music Studio on {time.strftime('%Y-%m-%d %H:%M')}. Everything in this page (players, "
              "charts) is inside this one file: it opens without a network connection.")
    text = fill_template({"title": _esc(title), "plotly_js": library, "heading": _esc(title), "lede": _esc(lede),
                          "body": body, "footer": _esc(footer)})
    return Report(title=title, html=text, parts=tuple(parts.parts), missing=tuple(parts.missing))


def track_report(store, track_hash: str, *, options: AnalysisOptions | None = None, progress=None) -> Report:
    """The report of one stored track (see the module docstring); an ExportError when the
    library has no such track."""
    parts = _Parts()
    body = _track_section(store, track_hash, parts, options=options or AnalysisOptions(), progress=progress)
    name = next(t["name"] for t in store.list_tracks() if t["content_hash"] == track_hash)
    return _finish(name, "Stakeholder report: the reference track, its analysis, its versions and what "
                         "listeners said.", body, parts)


def project_report(store, name: str, *, options: AnalysisOptions | None = None, progress=None) -> Report:
    """The report of a project: a contents list, then every track's section (as in
    :func:`track_report`). A StoreError for an unknown project, an ExportError for an empty one."""
    hashes = store.project_tracks(name)
    project = next(p for p in store.projects() if p["name"] == " ".join(name.split()))
    if not hashes:
        raise ExportError(f"The project {project['name']!r} has no tracks yet: add tracks to it on the Share page, "
                          "then make the report.")
    parts, sections = _Parts(), []
    for n, track_hash in enumerate(hashes):
        sections.append(_track_section(store, track_hash, parts, options=options or AnalysisOptions(),
                                       progress=scaled(progress, n / len(hashes), (n + 1) / len(hashes))))
    titles = {t["content_hash"]: t["name"] for t in store.list_tracks()}
    contents = "".join(f'<li><a href="#track-{h[:12]}">{_esc(titles.get(h, h[:12]))}</a></li>' for h in hashes)
    note = f"<p>{_esc(project['note'])}</p>" if project["note"] else ""
    body = f"{note}<nav><h2>Tracks</h2><ul>{contents}</ul></nav>" + "".join(sections)
    return _finish(project["name"], f"Stakeholder report of the project: {len(hashes)} reference "
                                    f"track{'s' if len(hashes) != 1 else ''}, their versions and what listeners "
                                    "said.", body, parts)


def find_track(store, text: str) -> str:
    """The content hash of a stored track given its hash or the start of it (at least 6
    characters, matching one track); an ExportError otherwise."""
    text = str(text).strip().lower()
    hashes = [t["content_hash"] for t in store.list_tracks()]
    found = [h for h in hashes if h == text] or ([h for h in hashes if h.startswith(text)] if len(text) >= 6 else [])
    if len(found) == 1:
        return found[0]
    shown = text if len(text) <= 40 else text[:40] + "..."
    if len(found) > 1:
        raise ExportError(f"{shown!r} starts the hash of {len(found)} tracks: give more of it.")
    raise ExportError(f"No track in the library has the hash {shown!r}: give a stored track's hash (the Analyze "
                      "page and `python -m core analyze` show it), or a project's name with --project.")


#: The columns of :func:`report_contents`.
CONTENTS_COLUMNS = ["track", "length", "analysed", "versions", "votes", "listeners"]


def report_contents(store, hashes, *, options: AnalysisOptions | None = None) -> pd.DataFrame:
    """What a report of these tracks will hold, one row per track: its name, length (m:ss),
    whether it is analysed (with ``options``, default AnalysisOptions), how many renders and
    covers are linked, how many votes and which listeners."""
    options = options or AnalysisOptions()
    library = {t["content_hash"]: t for t in store.list_tracks()}
    rows = []
    for track_hash in hashes:
        row = library.get(track_hash)
        votes = store.votes(track_hash)
        rows.append({"track": row["name"] if row else f"(missing: {track_hash[:8]})",
                     "length": clock(row["duration_s"]) if row else "-",
                     "analysed": "yes" if store.get_analysis(track_hash, options) is not None else "not yet",
                     "versions": len(store.renders_of(track_hash)), "votes": len(votes),
                     "listeners": ", ".join(listeners(votes)) if votes else ""})
    return pd.DataFrame(rows, columns=CONTENTS_COLUMNS)


def report_audio_s(store, hashes) -> float:
    """Seconds of the original recordings in a report of these tracks: what the time estimate of
    making it (measured on this machine, stage ``"export"``) scales with."""
    library = {t["content_hash"]: t["duration_s"] for t in store.list_tracks()}
    return float(sum(library.get(h, 0.0) for h in hashes))
