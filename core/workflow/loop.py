"""The feedback loop of the Amper study: reference track -> timelines -> renders -> the same
classifiers judge the renders.

* :func:`single_region_timelines`: the length of the reference, one of its most frequent
  descriptors, at each of its top-ranked tempi and tonics (one timeline per combination).
* :func:`multi_region_timeline`: one region per form segment with that segment's majority
  descriptor, tempo and tonic; region lengths follow the segment durations with every
  boundary on a beat of the region before it.
* :func:`plan_loop`: N variations of each (other seeds, the descriptor's bands in turn), each
  a :class:`LoopRender` that holds everything needed to reproduce it (timeline JSON + seed).
* :func:`run_loop`: renders and classifies every variation and builds the study's two tables
  (:func:`single_region_table`, :func:`multi_region_table`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.analyze import AnalysisOptions, analyze
from core.audio.load import track_from_array
from core.bounds import MIN_REGION_S, clip_tempo
from core.cachekey import library_versions, stage_key
from core.describe.describe import Description, describe
from core.describe.models import TARGETS, UNKNOWN
from core.describe.predict import known_labels, predict, top_descriptors
from core.describe.study import amper_study
from core.describe.transfer import musicnn_key
from core.errors import OptionError, StudioError
from core.generate.catalog import load_catalog
from core.generate.render import LIBRARIES, RENDER_VERSION, data_fingerprint, render, render_key
from core.generate.timeline import Region, Timeline, single_region
from core.progress import scaled
from core.separation import DEFAULT_MODEL, default_weights_dir, weights_fingerprint
from core.span import Span

KINDS = ("single", "multi")
#: The issue's targets and the Amper study's figures, per target, for both tables.
TARGETS_SINGLE = {"genre": 0.95, "subgenre": 0.90, "mood": 0.85, "sentiment": 0.90, "valence": 0.85, "momentum": 0.85}
TARGETS_MULTI = {"genre": 0.95, "subgenre": 0.90, "mood": 0.85, "sentiment": 0.85, "valence": 0.85, "momentum": 0.80}
#: The Amper study's figures (assets/amper_study.json, read by core.describe.study).
AMPER_SINGLE, AMPER_MULTI = amper_study().single_region, amper_study().multi_region


@dataclass(frozen=True)
class LoopRender:
    """One render of the loop: reproducible from ``timeline`` and ``seed``."""

    title: str
    kind: str  # "single" | "multi"
    variation: int
    seed: int
    timeline: Timeline = field(repr=False)

    @property
    def descriptor(self) -> str:
        """The requested descriptor (single-region), or the regions' joined by ' > '."""
        return " > ".join(r.descriptor for r in self.timeline.regions)

    @property
    def key(self) -> str:
        """A file-name-safe id: kind, combination and variation."""
        first = self.timeline.regions[0]
        if self.kind == "single":
            return f"single_{first.descriptor}_{first.tempo_bpm:g}bpm_{first.tonic.replace('#', 's')}_v{self.variation}"
        return f"multi_v{self.variation}"


def top_tempi(windows: pd.DataFrame, *, n: int = 2, tolerance: float = 0.04) -> list[float]:
    """The ``n`` most frequent window tempi; tempi within ``tolerance`` of a higher-ranked one
    count towards it (96 and 97 BPM are one tempo)."""
    tempi = windows["tempo_bpm"].dropna().round().astype(float)
    ranked: list[tuple[float, int]] = []
    for tempo, count in Counter(tempi).most_common():
        for i, (kept, c) in enumerate(ranked):
            if abs(tempo - kept) <= tolerance * kept:
                ranked[i] = (kept, c + count)
                break
        else:
            ranked.append((tempo, count))
    ranked.sort(key=lambda tc: -tc[1])
    clipped = dict.fromkeys(clip_tempo(t) for t, _ in ranked)  # 210 and 230 BPM are both 200
    return list(clipped)[:n]


def top_tonics(windows: pd.DataFrame, *, n: int = 2) -> list[str]:
    """The ``n`` most frequent window tonics."""
    return [str(t) for t in known_labels(windows["tonic"]).value_counts().index[:n]]


def single_region_timelines(analysis, windows: pd.DataFrame, *, descriptors: int = 1, tempi: int = 2,
                            tonics: int = 2, catalog=None) -> list[Timeline]:
    """One timeline per (descriptor, tempo, tonic) combination, each the reference's length."""
    names = top_descriptors(windows, n=descriptors)
    if not names:
        raise OptionError("No window of this track has a confident descriptor: nothing to render from.")
    tempo_list = top_tempi(windows, n=tempi) or [None]
    tonic_list = top_tonics(windows, n=tonics) or ["C"]
    combos = dict.fromkeys((d, t, k) for d in names for t in tempo_list for k in tonic_list)  # no repeats
    return [single_region(d, duration_s=round(analysis.duration_s, 3), tempo_bpm=t, tonic=k, catalog=catalog)
            for d, t, k in combos]


def beat_aligned_timeline(spans: list[Span], *, duration_s: float, catalog=None) -> Timeline:
    """A multi-region timeline from spans with ``end_s``, ``descriptor``, ``tempo_bpm`` and
    ``tonic`` (and an optional ``band``): each region starts where the previous one ended and
    lasts a whole number of its own beats, as close as possible to the span's end (the last: to
    ``duration_s``), so every boundary falls on a beat."""
    regions = []
    start = 0.0
    for i, span in enumerate(spans):
        tempo = clip_tempo(round(float(span.tempo_bpm), 1))
        beat_s = 60.0 / tempo
        target_end = duration_s if i == len(spans) - 1 else float(span.end_s)
        shortest = int(np.ceil((MIN_REGION_S - 1e-9) / beat_s))  # a region lasts at least MIN_REGION_S
        beats = max(shortest, int(round((target_end - start) / beat_s)))
        end = round(start + beats * beat_s, 4)
        regions.append(Region(str(i + 1), round(start, 4), end, span.descriptor, tempo, span.tonic,
                              span.band or None))
        start = end
    return Timeline(tuple(regions), max(r.end_s for r in regions)).check_descriptors(catalog=catalog)


def multi_region_timeline(analysis, form: list[Span], *, fallback_descriptor: str, catalog=None) -> Timeline:
    """One region per segment of the form (``Description.form``: the majority table's rows).

    Each region takes the segment's descriptor (``fallback_descriptor`` when it has none),
    median tempo (the descriptor's default when there is none) and tonic (the track's when the
    segment has none), on the beat (:func:`beat_aligned_timeline`).
    """
    catalog = catalog or load_catalog()
    spans = []
    for seg in form:
        name = seg.descriptor if seg.descriptor in catalog.descriptors else fallback_descriptor
        tempo = float(seg.tempo_bpm) if seg.tempo_bpm is not None else catalog.get(name).default_tempo_bpm
        spans.append(Span(start_s=seg.start_s, end_s=float(seg.end_s), label=seg.label, descriptor=name,
                          tempo_bpm=tempo, tonic=seg.tonic or analysis.tonic or "C"))
    return beat_aligned_timeline(spans, duration_s=analysis.duration_s, catalog=catalog)


def _with_band(timeline: Timeline, variation: int, catalog) -> Timeline:
    """The timeline with each region's band set to the descriptor's ``variation``-th band (in turn)."""
    regions = []
    for r in timeline.regions:
        bands = sorted(catalog.get(r.descriptor).bands)
        regions.append(replace(r, band=bands[variation % len(bands)]))
    return replace(timeline, regions=tuple(regions))


def plan_loop(title: str, description: Description, *, variations: int = 3, seed: int = 0, descriptors: int = 1,
              tempi: int = 2, tonics: int = 2, catalog=None) -> list[LoopRender]:
    """Every render of the loop for one reference track (its :func:`~core.describe.describe.describe`):
    single-region combinations and the multi-region timeline, ``variations`` times each
    (seed + i, the descriptor's bands in turn)."""
    if not 1 <= variations <= 20:
        raise OptionError(f"Variations must be 1 to 20 (got {variations}).")
    catalog = catalog or load_catalog()
    analysis = description.analysis
    singles = single_region_timelines(analysis, description.windows, descriptors=descriptors, tempi=tempi,
                                      tonics=tonics, catalog=catalog)
    stitched = multi_region_timeline(analysis, description.form, fallback_descriptor=singles[0].regions[0].descriptor,
                                     catalog=catalog)
    plan = []
    for v in range(variations):
        for tl in singles:
            plan.append(LoopRender(title, "single", v, seed + v, _with_band(tl, v, catalog)))
        plan.append(LoopRender(title, "multi", v, seed + v, _with_band(stitched, v, catalog)))
    return plan


# ------------------------------------------------------------------------ evaluation
def _labels_of(descriptor: str, catalog) -> dict[str, str]:
    d = catalog.get(descriptor).labels()
    return {t: str(d[t]) for t in TARGETS}


def single_region_table(results: list[tuple[LoopRender, pd.DataFrame]], *, catalog=None) -> pd.DataFrame:
    """Per single-region render: the requested descriptor and, per target, the share of its
    (non-silent) windows whose prediction matches the request (the study's first table)."""
    catalog = catalog or load_catalog()
    rows = []
    for item, windows in results:
        if item.kind != "single":
            continue
        region = item.timeline.regions[0]
        want = _labels_of(region.descriptor, catalog)
        w = windows[~windows["silent"].astype(bool)]
        row = {"title": item.title, "render": item.key, "variation": item.variation, "seed": item.seed,
               "descriptor": region.descriptor, "band": region.band, "tempo_bpm": region.tempo_bpm,
               "tonic": region.tonic, "windows": len(w)}
        for t in TARGETS:
            row[t] = round(float((w[t].astype(str) == want[t]).mean()), 4) if len(w) else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def _majority(values: pd.Series) -> str:
    known = known_labels(values)
    return str(known.value_counts().index[0]) if len(known) else UNKNOWN


def multi_region_table(results: list[tuple[LoopRender, pd.DataFrame]], reference: pd.DataFrame) -> pd.DataFrame:
    """Per reference segment: its own classification (``reference``: the majority table of the
    reference track) against the majority, over the N variations, of each variation's majority
    over the windows inside the matching region; a 0/1 match per target (the study's second
    table)."""
    multi = [(item, w) for item, w in results if item.kind == "multi"]
    rows = []
    if not multi:
        return pd.DataFrame(rows)
    n_regions = len(multi[0][0].timeline.regions)
    for i in range(n_regions):
        ref = reference.iloc[i] if i < len(reference) else None
        votes: dict[str, list[str]] = {t: [] for t in TARGETS}
        region = multi[0][0].timeline.regions[i]
        for item, windows in multi:
            r = item.timeline.regions[i]
            centres = (windows["start_s"] + windows["end_s"]) / 2
            inside = windows[(centres >= r.start_s) & (centres < r.end_s) & ~windows["silent"].astype(bool)]
            for t in TARGETS:
                votes[t].append(_majority(inside[t]) if len(inside) else UNKNOWN)
        row = {"title": multi[0][0].title, "segment": i, "start_s": region.start_s, "end_s": region.end_s,
               "descriptor": region.descriptor, "variations": len(multi)}
        for t in TARGETS:
            rendered = _majority(pd.Series(votes[t]))
            wanted = str(ref[t]) if ref is not None else UNKNOWN
            row[f"reference_{t}"] = wanted
            row[f"render_{t}"] = rendered
            row[t] = int(rendered == wanted and wanted != UNKNOWN)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_by_title(table: pd.DataFrame) -> pd.DataFrame:
    """Mean per target per title, and a last row "mean" over the titles."""
    if table.empty:
        return pd.DataFrame(columns=["title", *TARGETS])
    per_title = table.groupby("title")[list(TARGETS)].mean().reset_index()
    overall = per_title[list(TARGETS)].mean().to_frame().T
    overall.insert(0, "title", "mean")
    return pd.concat([per_title, overall], ignore_index=True).round(4)


@dataclass(frozen=True)
class LoopResult:
    """Everything one loop produced: the plan, the renders' store keys and the two tables."""

    plan: list[LoopRender]
    render_keys: list[str]
    single: pd.DataFrame
    multi: pd.DataFrame


#: Bump when the loop's plan or tables change (part of the cached result's key).
LOOP_VERSION = 1


def loop_key(track_hash: str, *, model, variations: int, seed: int, remove_vocals: str,
             options: AnalysisOptions | None = None, weights_dir: Path | None = None) -> str:
    """The stored loop's key (``core.cachekey.stage_key``): the track, the model (its
    fingerprint: a retrained model is a new key), the settings, the analysis options' key (with
    the analysis version), the render data's content, the separation weights' content and the
    versions of the loop, the renderer and the libraries the renders and stems depend on."""
    weights = weights_fingerprint(DEFAULT_MODEL, weights_dir=weights_dir or default_weights_dir())
    parts = [track_hash, model.name, model.fingerprint, variations, seed, remove_vocals,
             (options or AnalysisOptions()).cache_key(), RENDER_VERSION, data_fingerprint(), weights,
             library_versions(*LIBRARIES, "torch")]
    heard = musicnn_key(model)  # the renders are judged by what musicnn hears too
    if heard is not None:
        parts.append(heard)
    return stage_key("loop", LOOP_VERSION, *parts)


def cached_loop(title: str, track, *, store, model, variations: int = 3, seed: int = 0, remove_vocals: str = "auto",
                progress=None) -> LoopResult:
    """``run_loop`` once per track, model and settings; later calls read the stored tables."""
    key = loop_key(track.content_hash, model=model, variations=variations, seed=seed, remove_vocals=remove_vocals)
    found = store.get_json("loops", key)
    if found is not None:
        try:  # the stored tables, under the title asked for now
            plan = [LoopRender(title, p["kind"], p["variation"], p["seed"],
                               Timeline.from_json(p["timeline"], check_catalog=False)) for p in found["plan"]]
            tables = [pd.read_json(StringIO(found[k]), orient="split") for k in ("single", "multi")]
            for table in tables:
                if "title" in table:
                    table["title"] = title
            result = LoopResult(plan, found["render_keys"], *tables)
        except (KeyError, ValueError, TypeError, StudioError):
            result = None
        if result is not None:
            if progress:
                progress(1.0, "Loaded from the store")
            return result
    result = run_loop(title, track, store=store, model=model, variations=variations, seed=seed,
                      remove_vocals=remove_vocals, progress=progress)
    store.put_json("loops", key, {
        "plan": [{"title": p.title, "kind": p.kind, "variation": p.variation, "seed": p.seed,
                  "timeline": p.timeline.to_json(indent=None)} for p in result.plan],
        "render_keys": result.render_keys, "single": result.single.to_json(orient="split"),
        "multi": result.multi.to_json(orient="split")})
    return result


def run_loop(title: str, track, *, store, model, variations: int = 3, seed: int = 0, remove_vocals: str = "auto",
             progress=None) -> LoopResult:
    """Describe the reference (:func:`~core.describe.describe.describe`, stored), plan its renders,
    render (stored by key: a second run is a lookup), classify each render with the same model
    and build both tables."""
    report = progress or (lambda f, m="": None)
    description = describe(track, model=model, remove_vocals=remove_vocals, store=store,
                           progress=scaled(progress, 0.0, 0.1))
    plan = plan_loop(title, description, variations=variations, seed=seed)
    results, keys = [], []
    for i, item in enumerate(plan):
        span = (0.1 + 0.9 * i / len(plan), 0.1 + 0.9 * (i + 1) / len(plan))
        report(span[0], f"{item.kind} render {i + 1}/{len(plan)}")
        rendered = render(item.timeline, seed=item.seed, title=f"{title}: {item.key}", store=store)
        keys.append(render_key(item.timeline, seed=item.seed))
        store.link_render(track.content_hash, keys[-1], kind=item.kind, label=item.key)
        audio = track_from_array(rendered.audio, rendered.sample_rate, name=f"{title}-{item.key}")
        results.append((item, predict(analyze(audio), model, track=audio)))  # renders carry no voice
    report(1.0, "Loop done")
    return LoopResult(plan, keys, single_region_table(results), multi_region_table(results, description.majority))
