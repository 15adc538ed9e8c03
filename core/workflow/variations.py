"""The Render page's logic: N variations of one descriptor (a band per variation when none is
chosen), and what a stored render is called and captioned.

Pure functions (no Streamlit).
"""

from __future__ import annotations

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


def render_caption(result) -> str:
    """Two markdown lines on a render: its descriptors, then band, seed, tempo, key and loudness."""
    first = result.regions[0]
    bands = ", ".join(dict.fromkeys(r.band for r in result.regions))
    return (f"{' > '.join(r.descriptor for r in result.regions)}  \nband *{bands}* · seed {result.seed} · "
            f"{first.tempo_bpm:.0f} BPM · {first.tonic} {first.mode} · {result.loudness_lufs:.1f} LUFS")


def render_stem(result) -> str:
    """A file name stem for a render's downloads: its first descriptor and its seed."""
    return f"{result.regions[0].descriptor}_seed{result.seed}"
