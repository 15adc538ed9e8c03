"""The Render page's logic: N variations of one descriptor (a band per variation when none is
chosen), and what a stored render is called and captioned (its name in words for a page).

Pure functions (no Streamlit).
"""

from __future__ import annotations

import re

from core.errors import StudioError
from core.generate.catalog import load_catalog
from core.generate.timeline import Timeline, single_region


def variation_timelines(descriptor: str, *, duration_s: float, tempo_bpm: float, tonic: str, band: str | None,
                        variations: int, seed: int = 0, catalog=None) -> list[Timeline]:
    """``variations`` one-region timelines of ``descriptor``; with ``band`` None, variation ``i``
    takes the descriptor's bands in turn from ``seed + i`` (variation ``i`` renders with seed
    ``seed + i``)."""
    catalog = catalog or load_catalog()
    bands = sorted(catalog.get(descriptor).bands)
    return [single_region(descriptor, duration_s=duration_s, tempo_bpm=tempo_bpm, tonic=tonic,
                          band=band if band is not None else bands[(int(seed) + i) % len(bands)], catalog=catalog)
            for i in range(int(variations))]


#: A descriptor's preview: seconds, and the seed it renders with (one preview per descriptor).
PREVIEW_S = 12.0
PREVIEW_SEED = 0


def preview_timeline(descriptor: str, *, catalog=None) -> Timeline:
    """The short clip that lets a musician hear a descriptor before choosing it: its default
    tempo, in A for a minor mood and C for a major one, its first band."""
    catalog = catalog or load_catalog()
    d = catalog.get(descriptor)
    return single_region(descriptor, duration_s=PREVIEW_S, tonic="A" if d.mode == "minor" else "C",
                         band=sorted(d.bands)[0], catalog=catalog)


def render_caption(result) -> str:
    """Two markdown lines on a render: its descriptors, then band, seed, tempo, key and loudness."""
    first = result.regions[0]
    bands = ", ".join(dict.fromkeys(r.band for r in result.regions))
    return (f"{' > '.join(r.descriptor for r in result.regions)}  \nband *{bands}* · seed {result.seed} · "
            f"{first.tempo_bpm:.0f} BPM · {first.tonic} {first.mode} · {result.loudness_lufs:.1f} LUFS")


def render_stem(result) -> str:
    """A file name stem for a render's downloads: its first descriptor and its seed."""
    return f"{result.regions[0].descriptor}_seed{result.seed}"


#: A loop render's id (``core.workflow.loop.LoopRender.key``): descriptor, tempo, tonic, variation.
_SINGLE_ID = re.compile(r"^(?:single_)?(?P<descriptor>[a-z0-9_]+?)_(?P<tempo>\d+(?:\.\d+)?)bpm_(?P<tonic>[A-G]s?)"
                        r"_v(?P<variation>\d+)$")
_MULTI_ID = re.compile(r"^(?:multi_)?v(?P<variation>\d+)$")
#: How a page names the kinds of render linked to a track.
_KIND_WORDS = {"edit": "Edited form", "cover": "Cover"}


def _descriptor_words(name: str, catalog) -> str:
    """"rock_indie_brooding" as "Rock, indie, brooding" (genre, subgenre, mood)."""
    try:
        d = catalog.get(name)
        parts = [d.genre, d.subgenre, d.mood]
    except StudioError:  # not in this catalog: its words as they are
        parts = name.split("_")
    text = ", ".join(p.replace("_", " ") for p in parts)
    return text[:1].upper() + text[1:]


def display_name(label: str, *, catalog=None) -> str:
    """A render's name in words for a page (its id stays for files): "single: rock_indie_brooding_124bpm_A_v0"
    -> "Rock, indie, brooding - 124 BPM, A - version 1"; "multi: v0" -> "Stitched version 1"; a title
    before the id is kept ("Song: multi_v1" -> "Song - Stitched version 2"); anything else as it is."""
    head, _, tail = str(label).rpartition(": ")
    kind = head if head in ("single", "multi", *_KIND_WORDS) else ""
    prefix = "" if kind or not head else f"{head} - "
    if kind != "single" and (match := _MULTI_ID.match(tail)) and (kind == "multi" or tail.startswith("multi_")):
        return f"{prefix}Stitched version {int(match['variation']) + 1}"
    if kind in ("single", "") and (match := _SINGLE_ID.match(tail)):
        tonic = match["tonic"].replace("s", "#")
        return (f"{prefix}{_descriptor_words(match['descriptor'], catalog or load_catalog())} - "
                f"{float(match['tempo']):g} BPM, {tonic} - version {int(match['variation']) + 1}")
    return f"{_KIND_WORDS[kind]}: {tail}" if kind in _KIND_WORDS else str(label)


def display_titles(rows, *, catalog=None) -> dict[str, str]:
    """Each stored render's title in words (:func:`display_name`), by render key (``Store.list_renders`` rows)."""
    catalog = catalog or load_catalog()
    return {r["render_key"]: display_name(r["title"], catalog=catalog) for r in rows}
