"""``describe(track) -> Description``: what the machine hears in a track, in one stage.

The chain "track -> analysis -> (vocals removed when the track has a voice) -> classified
windows -> per-segment majority table -> fallback descriptor" lives here, once. The CLI, the
loop, the segment editor and the Analyze page all call :func:`describe`.

Cached by ONE complete key (:func:`description_key`: the track's content hash, the analysis
options, the model's fingerprint, the vocal mode, the separation weights when vocals are
checked, and the versions). With a store, the predictions and the vocal check are stored, so
a second ``describe()`` of the same inputs is a lookup.

Per-track facts (was the accompaniment classified, how much voice the track holds, why) are
in :class:`VocalCheck`, never on the window rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

import pandas as pd

from core.analysis.analyze import Analysis, AnalysisOptions, analyze, window_feature_table
from core.audio.load import track_from_array
from core.describe.calibrate import load_calibration
from core.describe.models import DescriptorModel, load_model
from core.describe.predict import (
    VOCAL_MODES,
    VOICE_FRAMES_MIN,
    majority_spans,
    majority_table,
    predict,
    top_descriptors,
    voice_share,
)
from core.describe.transfer import musicnn_key, needs_musicnn, with_musicnn
from core.errors import OptionError, SeparationError
from core.progress import scaled
from core.separation import (
    DEFAULT_MODEL,
    SEPARATION_VERSION,
    SeparationOptions,
    default_weights_dir,
    separate,
    weights_fingerprint,
)
from core.span import Span

log = logging.getLogger(__name__)

#: Bump when the description (its predictions, vocal check or stored format) changes.
DESCRIBE_VERSION = 1
FORMAT = "music-studio description"


@dataclass(frozen=True)
class VocalCheck:
    """Whether the vocals were taken out before classifying, and why (one fact per track)."""

    mode: str  # "auto" | "on" | "off" (core.describe.predict.VOCAL_MODES)
    removed: bool  # the accompaniment's windows were classified
    voice_share: float | None  # None when the track was not separated
    note: str  # one sentence for a musician: what was done and why ("" when nothing to say)

    @property
    def checked(self) -> bool:
        """The track was separated (``voice_share`` was measured)."""
        return self.voice_share is not None


@dataclass(frozen=True)
class Description:
    """Everything the machine hears in one track with one model."""

    analysis: Analysis
    windows: pd.DataFrame  # analysis.windows + the prediction columns, on the ONE window grid
    majority: pd.DataFrame  # per-segment majority table (core.describe.predict.majority_table)
    vocals: VocalCheck
    model_name: str
    fallback_descriptor: str  # the most frequent window descriptor, for segments with no known one ("" if none)
    key: str  # the complete cache key of this description

    @property
    def form(self) -> list[Span]:
        """The machine's form: one span per segment with its majority descriptor ("" when none),
        median tempo and key's tonic (None when none) (``core.describe.predict.majority_spans``)."""
        return majority_spans(self.majority)

    @property
    def predictions(self) -> pd.DataFrame:
        """The prediction columns alone (``windows`` without the analysis' columns)."""
        return self.windows.iloc[:, len(self.analysis.windows.columns):]


def _check_mode(remove_vocals: str) -> None:
    if remove_vocals not in VOCAL_MODES:
        raise OptionError(f"Remove vocals must be one of {', '.join(VOCAL_MODES)} (got {remove_vocals!r}).")


def _resolve_model(model) -> DescriptorModel:
    if isinstance(model, str):
        return load_model(model)
    if not isinstance(model, DescriptorModel):
        raise OptionError("model must be a DescriptorModel or a model name.")
    return model


def description_key(track_hash: str, *, options: AnalysisOptions, model: DescriptorModel,
                    remove_vocals: str = "auto") -> str:
    """The complete key of a description: the track, the analysis options (with the analysis
    version), the model's fingerprint (and its calibration's, when it has one), the vocal mode
    and, when vocals are checked, the separation model, options, version and weights' fingerprint."""
    _check_mode(remove_vocals)
    separation = None
    if remove_vocals != "off":
        sep = SeparationOptions()
        separation = {"model": DEFAULT_MODEL, "options": sep.as_dict(), "version": SEPARATION_VERSION,
                      "weights": weights_fingerprint(sep.model, weights_dir=default_weights_dir())}
    parts = {"v": DESCRIBE_VERSION, "track": track_hash, "analysis": options.cache_key(), "model": model.name,
             "model_fingerprint": model.fingerprint, "remove_vocals": remove_vocals, "separation": separation}
    heard = musicnn_key(model)  # the embedding's version and weights, for a model that listens with it
    if heard is not None:
        parts["musicnn"] = heard
    calibration = load_calibration(model)
    if calibration is not None:  # only then: descriptions made without one keep their keys
        parts["calibration"] = calibration.fingerprint
    payload = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# ------------------------------------------------------------------ the vocal check
def _percent(share: float) -> str:
    return f"{share:.0%}"


def check_vocals(track, analysis: Analysis, *, remove_vocals: str = "auto", store=None, progress=None,
                 model: DescriptorModel | None = None) -> tuple[VocalCheck, pd.DataFrame | None]:
    """Separate the track (unless ``remove_vocals`` is "off" or it is silent) and decide whether
    to classify its accompaniment: "on" always, "auto" when it has a voice (``voice_share`` >=
    ``VOICE_FRAMES_MIN``). Returns the check and the accompaniment's per-window features on the
    analysis' grid (None when the full mix is classified), with the musicnn columns when
    ``model`` listens with musicnn.

    In "auto", a separation model that cannot run means the full mix is classified, with the
    reason in the note; in "on" the ``SeparationError`` is raised.
    """
    _check_mode(remove_vocals)
    if remove_vocals == "off" or track.is_silent:
        return VocalCheck(remove_vocals, False, None, ""), None
    try:
        stems = separate(track, store=store, progress=scaled(progress, 0.0, 0.8))
    except SeparationError as exc:
        if remove_vocals == "on":
            raise
        # "auto" never blocks classifying: without the separation model the full mix is classified
        return VocalCheck(remove_vocals, False, None, f"Vocals were not checked: {exc}"), None
    share = voice_share(stems)
    shown = round(share, 3)
    if not (remove_vocals == "on" or share >= VOICE_FRAMES_MIN):
        note = f"Classified with the vocals in: a voice in {_percent(shown)} of the track's seconds."
        return VocalCheck(remove_vocals, False, shown, note), None
    if progress:
        progress(0.8, "Features of the accompaniment")
    accompaniment = track_from_array(stems["accompaniment"], stems.sample_rate, name=f"{track.name}-accompaniment")
    features = window_feature_table(accompaniment, grid=analysis.options.grid)
    if model is not None and needs_musicnn(model):
        features = with_musicnn(features, accompaniment, store=store)
    note = f"Vocals removed before classifying (a voice in {_percent(shown)} of the track's seconds)."
    return VocalCheck(remove_vocals, True, shown, note), features


def classify(analysis: Analysis, model: DescriptorModel, *, track, remove_vocals: str = "auto", store=None,
             progress=None) -> tuple[pd.DataFrame, VocalCheck]:
    """``predict`` with the vocals removed first when :func:`check_vocals` says so (the models
    learnt from renders without voices, so a singer confuses them, as the Amper study found).

    Returns the per-window table (analysis columns + predictions) and the vocal check. Not
    cached: :func:`describe` is the cached stage.
    """
    vocals, features = check_vocals(track, analysis, remove_vocals=remove_vocals, store=store, progress=progress,
                                    model=model)
    table = predict(analysis, model, features=features, track=track, store=store)
    if progress:
        progress(1.0, "Classified")
    return table, vocals


# ------------------------------------------------------------------ storage
def description_to_bytes(predictions: pd.DataFrame, vocals: VocalCheck, *, model_name: str) -> bytes:
    """The prediction columns and the vocal check as JSON (floats round-trip exactly)."""
    doc = {"format": FORMAT, "version": DESCRIBE_VERSION, "model": model_name, "vocals": asdict(vocals),
           "columns": [str(c) for c in predictions.columns],
           "dtypes": [str(t) for t in predictions.dtypes],
           "data": [predictions[c].tolist() for c in predictions.columns]}
    return json.dumps(doc).encode()


def description_from_bytes(data: bytes) -> tuple[pd.DataFrame, VocalCheck, str]:
    """The prediction columns, the vocal check and the model name stored by :func:`description_to_bytes`.

    Raises ValueError, KeyError or TypeError when the data is not a stored description.
    """
    doc = json.loads(data.decode())
    if doc.get("format") != FORMAT or doc.get("version") != DESCRIBE_VERSION:
        raise ValueError("not a stored description of this version")
    columns = {c: pd.Series(values, dtype=dtype) for c, values, dtype in zip(doc["columns"], doc["data"],
                                                                               doc["dtypes"], strict=True)}
    return pd.DataFrame(columns), VocalCheck(**doc["vocals"]), str(doc["model"])


def _stored(store, track_hash: str, key: str, n_windows: int):
    if store is None:
        return None
    data = store.get_description(track_hash, key)
    if data is None:
        return None
    try:
        predictions, vocals, name = description_from_bytes(data)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("Stored description %s is unreadable (%s): it will be computed again.", key, exc)
        return None
    if len(predictions) != n_windows:
        log.warning("Stored description %s is not on the analysis' grid: it will be computed again.", key)
        return None
    return predictions, vocals, name


# ------------------------------------------------------------------ the stage
def describe(track, *, model, options: AnalysisOptions | None = None, remove_vocals: str = "auto", store=None,
             progress=None) -> Description:
    """Analyse ``track`` (stored once with a ``store``), classify its windows with ``model``
    (a loaded ``DescriptorModel`` or a model name), the accompaniment's when ``remove_vocals``
    says so (:func:`check_vocals`), and derive the per-segment majority table and the fallback
    descriptor.

    With a ``store`` the predictions and the vocal check are stored under
    :func:`description_key`: a second call with the same inputs computes nothing.
    """
    _check_mode(remove_vocals)
    model = _resolve_model(model)
    opts = options or AnalysisOptions()
    analysis = analyze(track, options=opts, progress=scaled(progress, 0.0, 0.6), store=store)
    key = description_key(track.content_hash, options=opts, model=model, remove_vocals=remove_vocals)
    found = _stored(store, track.content_hash, key, len(analysis.windows))
    if found is not None:
        predictions, vocals, _ = found
        windows = pd.concat([analysis.windows, predictions], axis=1)
        if progress:
            progress(1.0, "Loaded from the store")
    else:
        windows, vocals = classify(analysis, model, track=track, remove_vocals=remove_vocals, store=store,
                                   progress=scaled(progress, 0.6, 1.0))
        if store is not None:
            predictions = windows.iloc[:, len(analysis.windows.columns):]
            store.put_description(track.content_hash, key,
                                  description_to_bytes(predictions, vocals, model_name=model.name))
    return Description(analysis=analysis, windows=windows, majority=majority_table(windows, analysis.segments),
                       vocals=vocals, model_name=model.name,
                       fallback_descriptor=(top_descriptors(windows, n=1) or [""])[0], key=key)
