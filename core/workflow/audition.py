"""What the Listen page plays: the versions of a track (its original and chosen renders), their
names, loudness-matched gains and levels table, the blind round's pairs, and the players'
configurations (the synchronised multi-version player and the waveform player).

Pure functions (no Streamlit); loudness and blind-test rules are in :mod:`core.workflow.listen`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from core.errors import StudioError
from core.plots import PALETTE, place_labels, waveform_peaks
from core.workflow.editor import segments_frame
from core.workflow.edits import segments_from_json
from core.workflow.listen import ORIGINAL, ListenError, blind_pairs, matched_gains_db, version_id
from core.workflow.variations import display_name, display_titles

#: The players' narrowest canvas (px) and label font (bold, px): label rows are placed for them.
PLAYER_WIDTH_PX, PLAYER_FONT_PX = 900, 13
#: The order in which linked renders are offered by default: the study's comparison first.
KIND_PRIORITY = {"edit": 0, "multi": 1, "cover": 2, "single": 3}
#: A version's kind in words, after a name the user gave it: "Verse idea (cover)".
KIND_WORDS = {"single": "single", "multi": "stitched", "edit": "edited form", "cover": "cover"}


@dataclass(frozen=True)
class Version:
    """One version in the player: the original or a stored render."""

    id: str  # ORIGINAL or "render:<render_key>" (core.workflow.listen.version_id)
    key: str  # the cache key of its encoded audio
    label: str
    samples: np.ndarray = field(repr=False)
    sample_rate: int
    render: object | None = field(default=None, repr=False)  # the Render, None for the original
    gain_db: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / float(self.sample_rate)


def original_version(track) -> Version:
    return Version(ORIGINAL, track.content_hash, f"original · {track.name}", track.samples, track.sample_rate)


def render_version(render_key: str, render, *, label: str) -> Version:
    return Version(version_id(render_key), version_id(render_key), label, render.audio, render.sample_rate, render)


def render_labels(linked, titles) -> dict[str, str]:
    """"kind: name" per render linked to the track (``Store.renders_of`` rows), by render key."""
    labels = {}
    for row in linked:
        name = row["label"] or titles.get(row["render_key"], row["render_key"][:10])
        if name.startswith(row["kind"] + "_"):  # "single: rock_..." rather than "single: single_rock_..."
            name = name[len(row["kind"]) + 1:]
        labels[row["render_key"]] = f"{row['kind']}: {name}"
    return labels


def version_labels(linked, titles, *, catalog=None) -> dict[str, str]:
    """Each linked render's name for a page, by render key: a name the user gave it as given, with
    its kind after it ("Verse idea (cover)"); an automatic one in words ("Stitched version 2",
    :func:`core.workflow.variations.display_name` of :func:`render_labels`)."""
    automatic = render_labels([r for r in linked if not r.get("named")], titles)
    return {r["render_key"]: f"{r['label']} ({KIND_WORDS.get(r['kind'], r['kind'])})" if r.get("named")
            else display_name(automatic[r["render_key"]], catalog=catalog) for r in linked}


def page_names(linked, stored, *, catalog=None) -> tuple[dict, dict, dict]:
    """What the Listen page names the versions by: (every stored render's title in words, by render key;
    the linked renders' names, :func:`version_labels`; every version id's name, :func:`version_names`).
    ``linked``: ``Store.renders_of`` rows; ``stored``: ``Store.list_renders`` rows."""
    titles = display_titles(stored, catalog=catalog)
    labels = version_labels(linked, titles, catalog=catalog)
    return titles, labels, version_names(labels, titles)


def render_name(render_key: str, labels, titles, *, other: str = "") -> str:
    """A render's name: its linked label, else ``other`` + its title, else its key's start."""
    return labels.get(render_key) or f"{other}{titles.get(render_key, render_key[:10])}"


def version_names(labels, titles) -> dict[str, str]:
    """Every version id's name (for vote tables and figures)."""
    return {ORIGINAL: "original"} | {version_id(k): render_name(k, labels, titles) for k in [*titles, *labels]}


def default_renders(linked, *, limit: int) -> list[str]:
    """The renders offered first: edited, then stitched, cover and single-region ones."""
    return [r["render_key"] for r in sorted(linked, key=lambda r: KIND_PRIORITY.get(r["kind"], 4))][:limit]


def reference_segments(analysis, edited_json: str | None) -> tuple[pd.DataFrame, str | None]:
    """The reference's segments to draw and loop: the listener's own edit (the Segments page)
    when there is one, else the analysis' segments; and a warning when the edit is unreadable."""
    if edited_json is None:
        return analysis.segments, None
    try:
        mine = segments_from_json(edited_json, duration_s=analysis.duration_s)
    except StudioError as exc:
        return analysis.segments, f"The edited segments could not be read ({exc}); showing the analysis' segments."
    return segments_frame(mine, by="section"), None


def with_matched_gains(versions: list[Version], levels: dict[str, tuple[float, float]]) -> list[Version]:
    """The versions with the gains that bring them to one loudness (``levels``: version id ->
    (LUFS, peak dBFS)), none of them clipping."""
    gains = matched_gains_db({v: m[0] for v, m in levels.items()}, peaks_dbfs={v: m[1] for v, m in levels.items()})
    return [replace(v, gain_db=gains[v.id]) for v in versions]


def levels_table(versions: list[Version], levels: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """One row per version: its player key, name, length, loudness, peak and gain."""
    return pd.DataFrame({
        "key": [str(i + 1) for i in range(len(versions))],
        "version": [v.label for v in versions],
        "length (s)": [round(v.duration_s, 1) for v in versions],
        "loudness (LUFS)": [round(levels[v.id][0], 1) for v in versions],
        "peak (dBFS)": [round(levels[v.id][1], 1) for v in versions],
        "gain in the player (dB)": [v.gain_db for v in versions],
    })


def overlay_candidates(versions: list[Version]) -> list[Version]:
    """The renders to overlay on the reference: the multi-region ones, else every render."""
    renders = [v for v in versions if v.render is not None]
    return [v for v in renders if len(v.render.regions) > 1] or renders


def round_seed(round_id: str, track_hash: str) -> int:
    """The blind round's shuffle seed (the same round of the same track keeps its letters)."""
    return int(hashlib.sha256(f"{round_id}:{track_hash}".encode()).hexdigest()[:8], 16)


def pairs_to_vote(letters: dict[str, str], votes, *, round_id: str) -> tuple[list, list]:
    """(every pair of letters, those not voted yet in this round) for a blind test."""
    letter_of = {vid: letter for letter, vid in letters.items()}
    done = {frozenset((letter_of.get(v["version_a"]), letter_of.get(v["version_b"])))
            for v in votes if v["session"] == round_id}
    pairs = blind_pairs(letters)
    return pairs, [p for p in pairs if frozenset(p) not in done]


def _regions(segments, *, duration_s: float) -> list[dict]:
    """The players' regions, each with its label's ``text`` and ``row`` (:func:`placed_regions`)."""
    rows = [] if segments is None else segments[["start_s", "end_s", "label"]].to_dict(orient="records")
    rows = [{"start_s": float(s["start_s"]), "end_s": float(s["end_s"]), "label": str(s["label"])} for s in rows]
    return placed_regions(rows, duration_s=duration_s)


def placed_regions(rows: list[dict], *, duration_s: float) -> list[dict]:
    """``rows`` (start_s, end_s, label) with the ``text`` and ``row`` a player draws the label at:
    rows that never overlap on a canvas :data:`PLAYER_WIDTH_PX` wide or wider (the full label on hover)."""
    placed = place_labels([r["start_s"] for r in rows], [str(r["label"]) for r in rows], duration_s=duration_s,
                          width_px=PLAYER_WIDTH_PX, font_px=PLAYER_FONT_PX, bold=True)
    return [{**r, "text": lab.text, "row": lab.row} for r, lab in zip(rows, placed)]


def player_config(versions: list[Version], audio_urls: list[str], *, segments=None, blind: bool = False) -> dict:
    """The synchronised player's configuration (``audio_urls``: where the browser fetches each
    version's encoded audio, by range requests; never the audio itself, see :func:`audio_url`).
    ``blind``: no waveforms (their shapes could give the versions away)."""
    entries = [{"label": str(v.label), "gain_db": float(v.gain_db), "duration_s": v.duration_s,
                "peaks": None if blind else _peaks(v.samples, n=900), "audio_url": audio_url(url)}
               for v, url in zip(versions, audio_urls, strict=True)]
    duration_s = max((e["duration_s"] for e in entries), default=0.0)
    regions = _regions(segments, duration_s=duration_s)
    return {"versions": entries, "duration_s": duration_s,
            "segments": regions, "labels": list(dict.fromkeys(s["label"] for s in regions)), "palette": PALETTE,
            "blind": bool(blind)}


def _peaks(samples, *, n: int) -> list[list[float]]:
    """The players' waveform peaks with three decimals in the page (float32 values printed whole
    took about 80 KB of page per version)."""
    return [[round(float(lo), 3), round(float(hi), 3)] for lo, hi in waveform_peaks(samples, n=n)]


def audio_url(url: str) -> str:
    """``url`` when it is a link the player can fetch (http(s) or a path on the app's server);
    embedded audio (``data:``) is refused: a few versions of ten megabytes each inside the page
    made the browser tab stop responding."""
    text = str(url)
    if text.lower().startswith(("data:", "blob:", "javascript:")):
        raise ListenError("The player takes links to the audio, not the audio itself; serve it as a file.")
    return text


def player_height(config: dict) -> int:
    """The player's height (px): its version buttons wrap at about 900 px."""
    width_px = sum(7.5 * len(e["label"]) + 95 for e in config["versions"])
    return 200 + 40 * (1 + int(width_px // 900))


def waveform_config(track, segments, audio_link: str) -> dict:
    """The waveform player's configuration: the track's peaks and its coloured segment regions,
    each with its label's ``text`` (shortened where it has no room) and ``row``, so the labels
    never overlap on a canvas :data:`PLAYER_WIDTH_PX` wide or wider (the full label on hover).
    ``audio_link``: where the browser fetches the track's encoded audio (a URL, or a data URL)."""
    rows = segments[["start_s", "end_s", "label"]].to_dict(orient="records")
    return {"audio_url": str(audio_link), "duration_s": track.duration_s,
            "peaks": _peaks(track.samples, n=1200), "segments": placed_regions(rows, duration_s=track.duration_s),
            "labels": list(dict.fromkeys(segments["label"])), "palette": PALETTE}


def embed_config(html: str, config: dict) -> str:
    """The player's HTML with its configuration in place of its one ``const CFG = __CONFIG__;``
    (user text cannot close the script; a mention of the placeholder in a comment stays a mention,
    it once doubled the page)."""
    slot = "const CFG = __CONFIG__;"
    if html.count(slot) != 1:
        raise ListenError("The player's page must have exactly one 'const CFG = __CONFIG__;' line.")
    return html.replace(slot, "const CFG = " + json.dumps(config).replace("<", "\\u003c") + ";")
