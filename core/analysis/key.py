"""Tonic and mode from chroma with key profiles (profiles are data: assets/key_profiles.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import OptionError, check_choice
from core.paths import ASSETS

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
PROFILES_PATH = ASSETS / "key_profiles.json"


@dataclass(frozen=True)
class KeyProfile:
    name: str
    major: np.ndarray
    minor: np.ndarray


@dataclass(frozen=True)
class KeyEstimate:
    tonic: np.ndarray  # (n,) pitch-class index 0..11, -1 where no pitch content
    mode: np.ndarray  # (n,) 0 = major, 1 = minor, -1 where no pitch content
    confidence: np.ndarray  # (n,) correlation of the best key, 0..1

    def tonic_names(self) -> list[str]:
        return [PITCH_CLASSES[t] if t >= 0 else "" for t in self.tonic]

    def mode_names(self) -> list[str]:
        return [MODES[m] if m >= 0 else "" for m in self.mode]


@lru_cache(maxsize=4)
def load_profiles(path: str = str(PROFILES_PATH)) -> tuple[str, dict[str, KeyProfile]]:
    """Read and validate the key profile file; returns (default name, profiles)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OptionError(f"Key profile file {path} could not be read: {exc}") from None
    profiles = {}
    for name, entry in raw.get("profiles", {}).items():
        try:
            major = np.asarray(entry["major"], dtype=float)
            minor = np.asarray(entry["minor"], dtype=float)
        except (KeyError, TypeError, ValueError):
            raise OptionError(f"Key profile '{name}' needs 'major' and 'minor' lists of 12 numbers.") from None
        if major.shape != (12,) or minor.shape != (12,) or (major < 0).any() or (minor < 0).any():
            raise OptionError(f"Key profile '{name}' needs 12 non-negative weights for each mode.")
        profiles[name] = KeyProfile(name, major, minor)
    default = raw.get("default")
    if default not in profiles:
        raise OptionError(f"Key profile file names default '{default}', which it does not define.")
    return default, profiles


def get_profile(name: str | None = None) -> KeyProfile:
    default, profiles = load_profiles()
    name = name or default
    check_choice(name, sorted(profiles), what="key profile")
    return profiles[name]


@dataclass(frozen=True)
class KeyScores:
    """How well each chroma vector correlates with each of the 24 keys of a profile."""

    corr: np.ndarray  # (n, 24) correlation: columns 0-11 major on C..B, 12-23 minor on C..B
    flat: np.ndarray  # (n,) True where a vector has no pitch content (no energy, or all classes equal)

    @property
    def strength(self) -> np.ndarray:
        """(n,) correlation of the best key, clipped to 0..1."""
        return np.clip(self.corr.max(axis=1), 0, 1)

    @property
    def major_minus_minor(self) -> np.ndarray:
        """(n,) best major-key correlation minus best minor-key correlation (-1..1)."""
        return self.corr[:, :12].max(axis=1) - self.corr[:, 12:].max(axis=1)


def _templates(profile: KeyProfile) -> np.ndarray:
    """(24, 12) z-scored templates: rows 0-11 major on C..B, 12-23 minor on C..B."""
    rows = [np.roll(profile.major, t) for t in range(12)] + [np.roll(profile.minor, t) for t in range(12)]
    m = np.asarray(rows)
    m = m - m.mean(axis=1, keepdims=True)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _correlate(x: np.ndarray, profile: KeyProfile) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of each row of ``x`` with the 24 templates, and where a row is constant."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    z = x / np.where(norm > 0, norm, 1.0)
    return z @ _templates(profile).T, norm[..., 0] < 1e-9


def _resolve(profile: str | KeyProfile | None) -> KeyProfile:
    return profile if isinstance(profile, KeyProfile) else get_profile(profile)


def key_scores(chroma: np.ndarray, *, profile: str | KeyProfile | None = None) -> KeyScores:
    """Correlation of each chroma vector (rows of ``chroma``, (n, 12)) with the 24 keys."""
    x = np.atleast_2d(np.asarray(chroma, dtype=float))
    corr, flat = _correlate(x, _resolve(profile))
    return KeyScores(corr, flat | (x.sum(axis=1) < 1e-9))


def estimate_keys(
    chroma: np.ndarray,
    *,
    profile: str | KeyProfile | None = None,
    context: np.ndarray | None = None,
    context_weight: float = 0.0,
) -> KeyEstimate:
    """Best key for each chroma vector.

    Parameters
    ----------
    chroma : (n, 12) non-negative pitch-class energies (one row per window)
    profile : profile name from assets/key_profiles.json or a KeyProfile
    context : (12,) optional chroma of the whole track
    context_weight : how much the track's key correlation is added to each window's
        (0 = windows alone; 1.0, the analysis default = a window leaves the track's key only on
        clear evidence)
    """
    prof = _resolve(profile)
    scores = key_scores(chroma, profile=prof)
    score = scores.corr
    if context is not None and context_weight > 0:
        context_corr, context_flat = _correlate(np.asarray(context, dtype=float), prof)
        if not context_flat:
            score = scores.corr + context_weight * context_corr[None, :]
    best = score.argmax(axis=1)
    corr = np.take_along_axis(scores.corr, best[:, None], axis=1)
    flat = scores.flat
    tonic = np.where(flat, -1, best % 12)
    mode = np.where(flat, -1, best // 12)
    conf = np.where(flat, 0.0, np.clip(corr[:, 0], 0.0, 1.0))
    return KeyEstimate(tonic.astype(int), mode.astype(int), conf)
