"""The training corpus: renders of every descriptor, featurised on the ONE window grid.

As in the Amper study, the classifiers learn from the studio's own renders, labelled by the
descriptor that made them. For each descriptor, ``per_descriptor`` renders at each duration
(10, 30 and 60 s by default), each with a random tempo inside the descriptor's range, a
random band and a random tonic (all drawn from the corpus seed, so a corpus is reproducible).

Every render is one job whose result (its windows' features and labels) is written to
``DIR/parts/<render_id>.parquet`` as soon as it is done: a killed run resumes where it
stopped and loses nothing. Jobs run on joblib worker processes, or on a Dask cluster with
``backend="dask"`` (joblib's dask backend: the core does not know where it runs). The parts
are then gathered into ``DIR/corpus.parquet``.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.analyze import ANALYSIS_VERSION, window_feature_table
from core.analysis.key import PITCH_CLASSES
from core.audio.load import track_from_array
from core.errors import OptionError, StudioError, check_choice
from core.generate.catalog import load_catalog
from core.generate.render import RENDER_VERSION, render
from core.generate.timeline import single_region
from core.io import atomic_write

LABELS = ("descriptor", "genre", "subgenre", "mood", "sentiment", "valence", "momentum")
BACKENDS = ("loky", "dask")


@dataclass(frozen=True, kw_only=True)
class CorpusSpec:
    """What a corpus holds. The same spec always plans the same renders."""

    per_descriptor: int = 2
    durations_s: tuple[float, ...] = (10.0, 30.0, 60.0)
    seed: int = 0
    descriptors: tuple[str, ...] | None = None  # None: the whole catalog
    #: Renders for the corpus are made at the analysis rate (the features are computed on a
    #: 22,050 Hz copy anyway): half the synthesis cost, the same features.
    sample_rate: int = 22050

    def __post_init__(self):
        if not (1 <= self.per_descriptor <= 1000):
            raise OptionError(f"Renders per descriptor must be 1-1000 (got {self.per_descriptor}).")
        if not self.durations_s or any(not (1.0 <= d <= 600.0) for d in self.durations_s):
            raise OptionError("Corpus render durations must be between 1 and 600 seconds.")
        if self.seed < 0:
            raise OptionError(f"The seed must be 0 or more (got {self.seed}).")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["durations_s"] = list(self.durations_s)
        d["descriptors"] = list(self.descriptors) if self.descriptors is not None else None
        return d


@dataclass(frozen=True)
class CorpusJob:
    """One render of the corpus."""

    render_id: str
    descriptor: str
    duration_s: float
    tempo_bpm: float
    tonic: str
    band: str
    seed: int
    sample_rate: int = 22050


@dataclass(frozen=True)
class CorpusResult:
    path: Path  # corpus.parquet
    n_renders: int
    n_windows: int
    rendered_now: int  # renders made in this run (the rest were already there)
    failures: list[str] = field(default_factory=list)


def engine_versions() -> dict:
    """The render and analysis versions a corpus is made with (stored in its spec.json)."""
    return {"render": RENDER_VERSION, "analysis": ANALYSIS_VERSION}


def plan(spec: CorpusSpec) -> list[CorpusJob]:
    """Every render of the corpus, in a fixed order, with its random tempo, band and tonic."""
    catalog = load_catalog()
    names = list(spec.descriptors) if spec.descriptors is not None else catalog.names()
    jobs = []
    for name in names:
        d = catalog.get(name)
        rng = np.random.default_rng([spec.seed] + [ord(c) for c in name])
        bands = sorted(d.bands)
        for duration in spec.durations_s:
            for i in range(spec.per_descriptor):
                tempo = round(float(rng.uniform(*d.tempo_bpm)), 1)
                tonic = PITCH_CLASSES[int(rng.integers(12))]
                band = bands[int(rng.integers(len(bands)))]
                seed = int(rng.integers(2**31))
                # another seed's corpus gets other ids, so corpora can be trained on together
                render_id = f"{name}-{duration:g}s-{i}" + (f"-s{spec.seed}" if spec.seed else "")
                jobs.append(CorpusJob(render_id, name, float(duration), tempo, tonic, band, seed, spec.sample_rate))
    return jobs


def run_job(job: CorpusJob) -> pd.DataFrame:
    """Render one job and return its windows: features plus labels and render facts."""
    d = load_catalog().get(job.descriptor)
    timeline = single_region(job.descriptor, duration_s=job.duration_s, tempo_bpm=job.tempo_bpm,
                             tonic=job.tonic, band=job.band)
    result = render(timeline, seed=job.seed, parallel=False, sample_rate=job.sample_rate)
    table = window_feature_table(track_from_array(result.audio, result.sample_rate, name=job.render_id))
    labels = d.labels()
    for col in LABELS:
        table[col] = labels[col]
    table["render_id"] = job.render_id
    table["render_duration_s"] = job.duration_s
    table["render_tempo_bpm"] = job.tempo_bpm
    table["render_tonic"] = job.tonic
    table["band"] = job.band
    table["render_seed"] = job.seed
    return table


def _part_path(out_dir: Path, render_id: str) -> Path:
    return out_dir / "parts" / f"{render_id}.parquet"


def _write_part(out_dir: Path, job: CorpusJob, table: pd.DataFrame) -> None:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write(_part_path(out_dir, job.render_id), buf.getvalue())


def _run_and_write(out_dir: str, job: CorpusJob) -> tuple[str, str | None]:
    """Worker entry point: render, featurise, write the part. Returns (render_id, error)."""
    try:
        _write_part(Path(out_dir), job, run_job(job))
        return job.render_id, None
    except StudioError as exc:
        return job.render_id, str(exc)


def _claim_folder(out: Path, spec: CorpusSpec) -> None:
    """Write ``spec.json`` into a new corpus folder, or check that an existing one holds the
    same spec made by the same engine (so it can be resumed)."""
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "spec.json"
    versions = engine_versions()
    if not spec_path.exists():
        atomic_write(spec_path, json.dumps({**spec.to_dict(), "versions": versions}, indent=2).encode())
        return
    previous = json.loads(spec_path.read_text())
    made_by = previous.pop("versions", None)
    if previous != spec.to_dict():
        raise OptionError(
            f"{out} holds a corpus made with other settings ({previous}). Use another folder, or the same "
            "settings to resume it."
        )
    if made_by != versions:
        raise OptionError(
            f"{out} holds renders made by another version of the engine ({made_by or 'unrecorded'}; this one "
            f"is {versions}): their music or features differ. Use another folder.")


def build_corpus(
    spec: CorpusSpec,
    *,
    out_dir: str | Path,
    n_jobs: int = 2,
    backend: str = "loky",
    scheduler: str | None = None,
    progress=None,
) -> CorpusResult:
    """Render and featurise the corpus into ``out_dir`` (resumable), then gather it.

    Parameters
    ----------
    spec : what to render
    out_dir : the corpus folder (``spec.json``, ``parts/``, ``corpus.parquet``)
    n_jobs : worker processes (loky backend)
    backend : ``"loky"`` (local processes) or ``"dask"`` (a Dask cluster at ``scheduler``)
    scheduler : Dask scheduler address (``tcp://host:8786``) or a ``distributed.Client``
    progress : callable(fraction, message), optional
    """
    from joblib import Parallel, delayed, parallel_config

    check_choice(backend, BACKENDS, what="backend")
    if backend == "dask" and scheduler is None:
        raise OptionError("The dask backend needs the scheduler's address (--scheduler tcp://HOST:8786).")
    out = Path(out_dir)
    _claim_folder(out, spec)
    jobs = plan(spec)
    todo = [j for j in jobs if not _part_path(out, j.render_id).exists()]
    report = progress or (lambda f, m: None)
    done = len(jobs) - len(todo)
    report(done / len(jobs), f"{done} of {len(jobs)} renders already made")
    failures: list[str] = []
    if todo:
        if backend == "dask":
            from distributed import Client

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            context = parallel_config(backend="dask", wait_for_workers_timeout=60)
        else:
            client = None
            context = parallel_config(backend="loky", n_jobs=n_jobs)
        try:
            with context:
                runner = Parallel(n_jobs=n_jobs if backend == "loky" else -1, return_as="generator_unordered")
                for render_id, error in runner(delayed(_run_and_write)(str(out), job) for job in todo):
                    done += 1
                    if error:
                        failures.append(f"{render_id}: {error}")
                    report(done / len(jobs), f"{done} of {len(jobs)} renders ({render_id})")
        finally:
            if client is not None and not isinstance(scheduler, Client):
                client.close()
    path = gather(out, jobs)
    table = pd.read_parquet(path, columns=["render_id"])
    return CorpusResult(path, int(table.render_id.nunique()), len(table), len(todo) - len(failures), failures)


def gather(out_dir: Path, jobs: list[CorpusJob]) -> Path:
    """Concatenate the parts of ``jobs`` (those that exist) into ``corpus.parquet``."""
    parts = [pd.read_parquet(_part_path(out_dir, j.render_id)) for j in jobs if _part_path(out_dir, j.render_id).exists()]
    if not parts:
        raise StudioError(f"No renders were made in {out_dir}.")
    table = pd.concat(parts, ignore_index=True)
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    path = out_dir / "corpus.parquet"
    atomic_write(path, buf.getvalue())
    return path


def load_corpus(path: str | Path) -> pd.DataFrame:
    """Read a corpus (its folder or its ``corpus.parquet``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "corpus.parquet"
    if not p.is_file():
        raise StudioError(f"No corpus at {path}: make one with `python -m core corpus --out DIR`.")
    table = pd.read_parquet(p)
    missing = [c for c in LABELS + ("render_id",) if c not in table.columns]
    if missing:
        raise StudioError(f"{p} is not a studio corpus (no {', '.join(missing)} column).")
    spec_path = p.parent / "spec.json"
    table.attrs["versions"] = json.loads(spec_path.read_text()).get("versions") if spec_path.is_file() else None
    return table


def load_corpora(paths) -> pd.DataFrame:
    """Several corpora as one table (say, the same spec with seeds 0 and 1: twice the renders).

    Their render ids must differ (corpora of other seeds get ``-sN`` ids); a render in two
    of them would sit on both sides of the held-out split, so that is refused.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise OptionError("Give at least one corpus folder.")
    resolved = [Path(p).resolve() for p in paths]
    twice = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if twice is not None:
        raise OptionError(f"The corpus {twice} is given twice.")
    tables = [load_corpus(p) for p in paths]
    if len({json.dumps(t.attrs.get("versions"), sort_keys=True) for t in tables}) > 1:
        made = ", ".join(f"{p}: {t.attrs.get('versions') or 'unrecorded'}" for p, t in zip(paths, tables))
        raise StudioError(f"These corpora were made by different versions of the engine ({made}); rebuild the "
                          "older ones so the models learn from one kind of music.")
    seen: dict[str, str] = {}
    for path, table in zip(paths, tables):
        for rid in table.render_id.unique():
            if rid in seen:
                raise StudioError(f"Render {rid} is in both {seen[rid]} and {path}: corpora trained on together "
                                  "need other seeds (python -m core corpus --seed N; corpora of seed 1 and up made "
                                  "before December 2026 lack the -sN ids and must be rebuilt).")
            seen[rid] = str(path)
    if len(tables) == 1:
        return tables[0]
    both = pd.concat(tables, ignore_index=True)
    both.attrs["versions"] = tables[0].attrs.get("versions")
    return both
