"""``analyze(track) -> Analysis``: the per-window table, the form and the global readings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import librosa
import numpy as np
import pandas as pd

from core.analysis.features import window_features
from core.analysis.key import PROFILES_PATH, KeyEstimate, estimate_keys, get_profile
from core.analysis.segment import Segmentation, SegmentOptions, segment
from core.analysis.tempo import estimate_tempo
from core.audio.frames import compute_frames
from core.audio.grid import WindowGrid, window_mean_var
from core.audio.load import ANALYSIS_SR, Track
from core.cachekey import digest, file_fingerprint
from core.errors import OptionError
from core.store.cache import fetch_or_compute
from core.version import __version__

#: Bump when an algorithm change alters results, so cached analyses are recomputed.
ANALYSIS_VERSION = 8
#: Windows quieter than this (mean frame RMS, dBFS) are flagged silent.
SILENT_WINDOW_DB = -60.0

#: Leading columns of the per-window table (the CLI contract: start_s, end_s, tempo_bpm,
#: tonic, mode, segment first), followed by the feature columns.
BASE_COLUMNS = (
    "start_s",
    "end_s",
    "tempo_bpm",
    "tonic",
    "mode",
    "segment",
    "segment_label",
    "key_confidence",
    "partial",
    "silent",
)


@dataclass(frozen=True, kw_only=True)
class AnalysisOptions:
    """Every knob of :func:`analyze` (all have good defaults)."""

    window_s: float = 10.0
    hop_s: float = 2.0
    key_profile: str | None = None  # None = the default in assets/key_profiles.json
    key_context: float = 2.5  # weight of the whole track's key in each window's key
    segmentation: SegmentOptions = field(default_factory=SegmentOptions)

    def __post_init__(self):
        WindowGrid(self.window_s, self.hop_s)  # validates
        if not (0.0 <= self.key_context <= 5.0):
            raise OptionError(f"Key context weight must be between 0 and 5 (got {self.key_context}).")
        if self.key_profile is not None:
            get_profile(self.key_profile)

    @property
    def grid(self) -> WindowGrid:
        return WindowGrid(self.window_s, self.hop_s)

    def cache_key(self) -> str:
        """Stable hash of the options, the analysis version and the key-profile data (by content).

        Built with ``core.cachekey.digest`` in the layout it always had (not ``stage_key``), so
        analyses and edit histories stored under it stay valid.
        """
        return digest({"v": ANALYSIS_VERSION, **asdict(self), "profile": get_profile(self.key_profile).name,
                       "profiles": file_fingerprint(PROFILES_PATH)}, length=16)

    @classmethod
    def from_dict(cls, d: dict) -> "AnalysisOptions":
        d = dict(d)
        seg = d.pop("segmentation", {}) or {}
        return cls(**d, segmentation=SegmentOptions(**seg))


@dataclass(frozen=True)
class Analysis:
    """Everything the analysis found in one track.

    ``windows`` is the project's "complete data" table (one row per window of the ONE grid);
    ``segments`` the form (start_s, end_s, label). Arrays are kept for plots.
    """

    track_hash: str
    track_name: str
    duration_s: float
    options: AnalysisOptions
    windows: pd.DataFrame
    segments: pd.DataFrame
    tempo_bpm: float
    tonic: str
    mode: str
    key_confidence: float
    k: int
    silhouette: dict[int, float]
    beat_times_s: np.ndarray
    chroma: np.ndarray  # (12, n_frames), each frame scaled to max 1
    chroma_frame_s: float
    novelty: np.ndarray
    novelty_times_s: np.ndarray
    warnings: tuple[str, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    tempo_confidence: float = 0.0  # 0..1 how clearly the pulse stands out (0 where no pulse was found)

    @property
    def key(self) -> str:
        return f"{self.tonic} {self.mode}".strip()

    def summary(self) -> dict:
        """The summary.json contract: duration_s, tempo_bpm, tonic, mode, key, k (and more)."""
        return {
            "name": self.track_name,
            "content_hash": self.track_hash,
            "duration_s": round(self.duration_s, 3),
            "tempo_bpm": None if not np.isfinite(self.tempo_bpm) else round(self.tempo_bpm, 2),
            "tempo_confidence": round(float(self.tempo_confidence), 3),
            "tonic": self.tonic,
            "mode": self.mode,
            "key": self.key,
            "key_confidence": round(self.key_confidence, 3),
            "k": self.k,
            "silhouette": {str(k): round(v, 4) for k, v in self.silhouette.items()},
            "n_segments": len(self.segments),
            "n_windows": len(self.windows),
            "window_s": self.options.window_s,
            "hop_s": self.options.hop_s,
            "warnings": list(self.warnings),
            "versions": self.versions,
        }


def _versions() -> dict[str, str]:
    import sklearn

    return {"studio": __version__, "analysis": str(ANALYSIS_VERSION), "librosa": librosa.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


@dataclass(frozen=True)
class _Measures:
    """What analysis and the training corpus share: frames, the grid, silence, tempo."""

    frames: object
    f0: np.ndarray
    f1: np.ndarray
    silent_frames: np.ndarray
    silent: np.ndarray
    tempo: object

    @property
    def window_tempo_bpm(self) -> np.ndarray:
        return np.where(self.silent, np.nan, self.tempo.window_tempo_bpm)

    def features(self) -> pd.DataFrame:
        onsets = librosa.onset.onset_detect(onset_envelope=self.frames.onset_env, sr=self.frames.sr,
                                            hop_length=self.frames.hop_length, units="frames")
        return window_features(self.frames, self.f0, self.f1, tempo_bpm=self.window_tempo_bpm,
                               pulse_clarity=self.tempo.pulse_clarity, onset_frames=np.sort(onsets))


def _measure(track: Track, grid: WindowGrid, *, with_cqt: bool, progress=None) -> _Measures:
    report = progress or (lambda f, m: None)
    frames = compute_frames(track.mono(sr=ANALYSIS_SR), sr=ANALYSIS_SR, with_cqt=with_cqt,
                            progress=lambda f, m: report(0.85 * f, m))
    f0, f1 = grid.frame_bounds(track.duration_s, sr=ANALYSIS_SR, hop_length=frames.hop_length,
                               n_frames=frames.n_frames)
    silent_frames = 20 * np.log10(np.maximum(frames.rms, 1e-6)) < SILENT_WINDOW_DB
    win_rms = window_mean_var(frames.rms[None, :], f0, f1)[0][:, 0]
    silent = 20 * np.log10(np.maximum(win_rms, 1e-6)) < SILENT_WINDOW_DB
    report(0.9, "Tempo and beats")
    tempo = estimate_tempo(frames.onset_env, sr=ANALYSIS_SR, hop_length=frames.hop_length, f0=f0, f1=f1,
                           silent_frames=silent_frames)
    return _Measures(frames, f0, f1, silent_frames, silent, tempo)


def window_feature_table(track: Track, *, grid: WindowGrid | None = None) -> pd.DataFrame:
    """The per-window features of a track without key or form (what the classifiers need).

    Same code path and numbers as :func:`analyze`'s feature columns, about 3x cheaper (no CQT).
    Columns: start_s, end_s, partial, silent, tempo_bpm, then every feature set.
    """
    grid = grid or WindowGrid()
    m = _measure(track, grid, with_cqt=False)
    starts, ends, partial = grid.windows(track.duration_s)
    head = pd.DataFrame({"start_s": np.round(starts, 3), "end_s": np.round(ends, 3), "partial": partial,
                         "silent": m.silent, "tempo_bpm": np.round(m.window_tempo_bpm, 2)})
    return pd.concat([head, m.features()], axis=1)


def log_chroma(chroma: np.ndarray) -> np.ndarray:
    """Log-compressed chroma (12, n), what the key profiles are correlated with."""
    return np.log1p(100.0 * chroma / max(float(chroma.max()), 1e-12))


def track_chroma(chroma_log: np.ndarray, silent_frames: np.ndarray) -> np.ndarray:
    """(12,) the whole track's chroma: the sum over its frames that are not silent."""
    loud = ~np.asarray(silent_frames, dtype=bool)
    return chroma_log[:, loud].sum(axis=1) if loud.any() else np.zeros(12)


def _keys(m: _Measures, opts: AnalysisOptions) -> tuple[KeyEstimate, KeyEstimate]:
    """Each window's key (weighed with the whole track's; none where the window is silent) and
    the track's key, from the log-compressed CQT chroma (measured best, see README "Key estimation")."""
    chroma_log = log_chroma(m.frames.chroma_key)
    global_chroma = track_chroma(chroma_log, m.silent_frames)
    chroma_win, _ = window_mean_var(chroma_log, m.f0, m.f1)
    keys = estimate_keys(chroma_win, profile=opts.key_profile, context=global_chroma,
                         context_weight=opts.key_context)
    keys = KeyEstimate(np.where(m.silent, -1, keys.tonic), np.where(m.silent, -1, keys.mode),
                       np.where(m.silent, 0.0, keys.confidence))
    return keys, estimate_keys(global_chroma[None, :], profile=opts.key_profile)


def _form(track: Track, m: _Measures, opts: AnalysisOptions) -> Segmentation:
    """The form: Laplacian segmentation on the beat grid (one section when there is nothing to hear)."""
    if track.is_silent or m.silent.all():
        return Segmentation(np.array([0.0, track.duration_s]), ["A"], 1)
    frames = m.frames
    beat_frames = librosa.time_to_frames(m.tempo.beat_times_s, sr=ANALYSIS_SR, hop_length=frames.hop_length)
    return segment(frames.cqt_db, frames.mfcc, beat_frames, frame_s=frames.frame_s, duration_s=track.duration_s,
                   options=opts.segmentation)


def _window_table(m: _Measures, grid: WindowGrid, duration_s: float, *, keys: KeyEstimate, seg: Segmentation,
                  segments: pd.DataFrame) -> pd.DataFrame:
    """The per-window table: :data:`BASE_COLUMNS`, then every feature set."""
    starts, ends, partial = grid.windows(duration_s)
    centers = (starts + ends) / 2
    seg_idx = np.clip(np.searchsorted(seg.boundaries_s, centers, side="right") - 1, 0, len(segments) - 1)
    windows = pd.DataFrame(
        {
            "start_s": np.round(starts, 3),
            "end_s": np.round(ends, 3),
            "tempo_bpm": np.round(m.window_tempo_bpm, 2),
            "tonic": keys.tonic_names(),
            "mode": keys.mode_names(),
            "segment": seg_idx,
            "segment_label": [segments.label[i] for i in seg_idx],
            "key_confidence": np.round(keys.confidence, 3),
            "partial": partial,
            "silent": m.silent,
        }
    )
    assert tuple(windows.columns) == BASE_COLUMNS
    return pd.concat([windows, m.features()], axis=1)


def _warnings(track: Track, grid: WindowGrid, m: _Measures) -> tuple[str, ...]:
    """The track's own warnings, then what the analysis could not read."""
    warnings = list(track.warnings)
    duration_s, silent = track.duration_s, m.silent
    if duration_s < grid.window_s:
        warnings.append(
            f"The clip ({duration_s:.1f} s) is shorter than one {grid.window_s:g} s window: it is analysed as one window."
        )
    if silent.all() and not track.is_silent:
        warnings.append("The track is very quiet (below -60 dBFS throughout): no tempo, key or form is read.")
    elif not track.is_silent and silent.any():
        warnings.append(f"{int(silent.sum())} of {len(silent)} windows are silent (no tempo or key there).")
    if not np.isfinite(m.tempo.tempo_bpm) and not silent.all():
        warnings.append("No steady pulse was found: tempo is left empty.")
    return tuple(warnings)


def analyze(track: Track, *, options: AnalysisOptions | None = None, progress=None, store=None) -> Analysis:
    """Analyse a track: per-window tempo, key and features, global tempo/key, and form.

    Parameters
    ----------
    track : Track
    options : AnalysisOptions, optional
    progress : callable(fraction, message), optional
        Called as the work advances (0..1).
    store : core.store.store.Store, optional
        The analysis is fetched when stored, else computed and stored (a track not in the
        store yet is added first); a hit reports ``progress(1.0, "Loaded from the store")``.
    """
    if store is not None:
        return _analyze_stored(track, options=options, progress=progress, store=store)
    opts = options or AnalysisOptions()
    if not isinstance(opts, AnalysisOptions):
        raise OptionError("options must be an AnalysisOptions.")
    report = progress or (lambda f, m: None)
    report(0.0, "Preparing audio")
    m = _measure(track, opts.grid, with_cqt=True, progress=lambda f, msg: report(0.05 + 0.65 * f, msg))
    report(0.7, "Key")
    keys, track_key = _keys(m, opts)
    report(0.75, "Form (Laplacian segmentation)")
    seg = _form(track, m, opts)
    segments = pd.DataFrame({"start_s": np.round(seg.boundaries_s[:-1], 3),
                             "end_s": np.round(seg.boundaries_s[1:], 3), "label": seg.labels})
    report(0.9, "Window features")
    windows = _window_table(m, opts.grid, track.duration_s, keys=keys, seg=seg, segments=segments)
    chroma = m.frames.chroma_cqt / np.maximum(m.frames.chroma_cqt.max(axis=0, keepdims=True), 1e-9)
    warnings = _warnings(track, opts.grid, m)
    report(1.0, "Done")
    return Analysis(
        track_hash=track.content_hash,
        track_name=track.name,
        duration_s=track.duration_s,
        options=opts,
        windows=windows,
        segments=segments,
        tempo_bpm=float(m.tempo.tempo_bpm),
        tempo_confidence=float(m.tempo.confidence),
        tonic=track_key.tonic_names()[0],
        mode=track_key.mode_names()[0],
        key_confidence=float(track_key.confidence[0]),
        k=int(seg.k),
        silhouette=dict(seg.silhouette),
        beat_times_s=np.asarray(m.tempo.beat_times_s, dtype=float),
        chroma=chroma.astype(np.float32),
        chroma_frame_s=m.frames.frame_s,
        novelty=np.asarray(seg.novelty, dtype=float),
        novelty_times_s=np.asarray(seg.sync_times_s, dtype=float),
        warnings=warnings,
        versions=_versions(),
    )


def _analyze_stored(track: Track, *, options: AnalysisOptions | None, progress, store) -> Analysis:
    """``analyze`` through the store: a lookup when this track and options were analysed."""
    opts = options or AnalysisOptions()
    if not isinstance(opts, AnalysisOptions):
        raise OptionError("options must be an AnalysisOptions.")

    def compute() -> Analysis:
        store.keep_track(track)  # an analysis belongs to a stored track
        return analyze(track, options=opts, progress=progress)

    return fetch_or_compute(lambda: store.get_analysis(track.content_hash, opts), compute, store.put_analysis,
                            progress=progress)


# ----------------------------------------------------------------------------- storage
_ARRAYS = ("beat_times_s", "chroma", "novelty", "novelty_times_s")


def analysis_to_bytes(analysis: Analysis) -> bytes:
    """Serialise an Analysis to one compressed .npz (no pickle: tables go in as JSON)."""
    import io

    meta = {
        "track_hash": analysis.track_hash,
        "track_name": analysis.track_name,
        "duration_s": analysis.duration_s,
        "options": asdict(analysis.options),
        "tempo_bpm": analysis.tempo_bpm,
        "tempo_confidence": analysis.tempo_confidence,
        "tonic": analysis.tonic,
        "mode": analysis.mode,
        "key_confidence": analysis.key_confidence,
        "k": analysis.k,
        "silhouette": {str(k): v for k, v in analysis.silhouette.items()},
        "chroma_frame_s": analysis.chroma_frame_s,
        "warnings": list(analysis.warnings),
        "versions": analysis.versions,
        "windows": analysis.windows.to_json(orient="split", index=False, double_precision=10),
        "segments": analysis.segments.to_json(orient="split", index=False, double_precision=10),
    }
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        **{name: np.asarray(getattr(analysis, name)) for name in _ARRAYS},
    )
    return buf.getvalue()


def analysis_from_bytes(data: bytes) -> Analysis:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        arrays = {name: z[name] for name in _ARRAYS}

    def table(text: str) -> pd.DataFrame:
        d = json.loads(text)
        return pd.DataFrame(d["data"], columns=d["columns"])

    windows = table(meta.pop("windows"))
    for col in ("tonic", "mode", "segment_label"):
        windows[col] = windows[col].fillna("").astype(str)
    for col in ("partial", "silent"):
        windows[col] = windows[col].astype(bool)
    windows["tempo_bpm"] = windows["tempo_bpm"].astype(float)
    return Analysis(
        track_hash=meta["track_hash"],
        track_name=meta["track_name"],
        duration_s=meta["duration_s"],
        options=AnalysisOptions.from_dict(meta["options"]),
        windows=windows,
        segments=table(meta["segments"]),
        tempo_bpm=float("nan") if meta["tempo_bpm"] is None else meta["tempo_bpm"],
        tempo_confidence=float(meta.get("tempo_confidence", 0.0)),
        tonic=meta["tonic"],
        mode=meta["mode"],
        key_confidence=meta["key_confidence"],
        k=meta["k"],
        silhouette={int(k): v for k, v in meta["silhouette"].items()},
        chroma_frame_s=meta["chroma_frame_s"],
        warnings=tuple(meta["warnings"]),
        versions=meta["versions"],
        **arrays,
    )
