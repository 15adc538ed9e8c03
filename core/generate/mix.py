"""The mix of one region: per-role pan and stereo width, a reverb send, and the genre's bus.

Each role arrives as its own stereo stem (synthesised with its MIDI volume and pan). Per role
(``assets/mix_rules.json``): a balance pan, a stereo width (a delayed copy of the stem's mono
sum, high-passed, added to the side channel only, so the mono sum, which the analysis hears,
is unchanged), and a send to one reverb (pedalboard's Reverb, the descriptor's room, plate or
hall). Then the genre's bus (pedalboard): EQ, compressor, light tanh saturation blended in,
and, for dance genres, sidechain ducking of everything but the drums on each kick; after the
bus, the section gain (``section_gain``: the climax lifted, builds swelling into it). Mastering
(-14 LUFS, limiter) stays in ``core.generate.render.master``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import StudioError
from core.paths import ASSETS

MIX_RULES_PATH = ASSETS / "mix_rules.json"
ROLES = ("drums", "percussion", "bass", "harmony", "pad", "lead")
EQ_TYPES = ("low_shelf", "high_shelf", "peak", "highpass", "lowpass")
KICKS = (35, 36)


class MixRuleError(StudioError):
    """The mix rule file is missing, not JSON, or a field is out of range."""


@dataclass(frozen=True)
class RoleMix:
    pan: float  # -1 left .. 1 right
    width: float  # 0 mono .. 1
    delay_ms: float
    send: float  # 0..1 of the reverb
    gain_db: float = 0.0  # on top of the MIDI volume set from the measured levels


@dataclass(frozen=True)
class Automation:
    """The section gain: intensity ``body_intensity`` plays at 0 dB, 1.0 (the climax) at
    ``lift_db``, linear in between and below, never under ``floor_db``; a rise swells over the
    bar before it, a fall takes ``fall_s``."""

    body_intensity: float
    lift_db: float
    floor_db: float
    fall_s: float


@dataclass(frozen=True)
class MixRules:
    width_hp_hz: float
    roles: dict  # role -> RoleMix
    reverbs: dict  # kind -> {room_size, damping, wet, width}
    genres: dict  # genre -> {eq, compressor, saturation, duck}
    automation: Automation = Automation(0.7, 0.0, 0.0, 0.3)


def _num(raw: dict, key: str, where: str, lo: float, hi: float) -> float:
    value = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo <= float(value) <= hi):
        raise MixRuleError(f"mix_rules.json: {where}/{key} must be a number from {lo:g} to {hi:g} (got {value!r}). "
                           f"Fix the file or restore it from the repository.")
    return float(value)


def _section(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        raise MixRuleError(f"mix_rules.json: {where}/{key} is missing or not an object.")
    return value


def _eq(raw, where: str) -> tuple:
    if not isinstance(raw, list):
        raise MixRuleError(f"mix_rules.json: {where}/eq must be a list of filters.")
    out = []
    for i, f in enumerate(raw):
        if not isinstance(f, dict) or f.get("type") not in EQ_TYPES:
            raise MixRuleError(f"mix_rules.json: {where}/eq/{i}/type must be one of {', '.join(EQ_TYPES)}.")
        out.append((f["type"], _num(f, "hz", f"{where}/eq/{i}", 20, 20000),
                    _num({"gain_db": f.get("gain_db", 0.0)}, "gain_db", f"{where}/eq/{i}", -12, 12),
                    _num({"q": f.get("q", 0.7)}, "q", f"{where}/eq/{i}", 0.1, 10)))
    return tuple(out)


def _genre(raw: dict, where: str) -> dict:
    comp, sat, duck = (_section(raw, k, where) for k in ("compressor", "saturation", "duck"))
    return {"eq": _eq(raw.get("eq"), where),
            "compressor": {k: _num(comp, k, f"{where}/compressor", lo, hi) for k, lo, hi in
                           (("threshold_db", -60, 0), ("ratio", 1, 20), ("attack_ms", 0.1, 500),
                            ("release_ms", 1, 2000))},
            "saturation": {k: _num(sat, k, f"{where}/saturation", lo, hi) for k, lo, hi in
                           (("drive_db", 0, 30), ("mix", 0, 1))},
            "duck": {k: _num(duck, k, f"{where}/duck", lo, hi) for k, lo, hi in
                     (("depth_db", 0, 24), ("release_ms", 10, 1000))}}


@lru_cache(maxsize=4)
def load_mix_rules(path: str = str(MIX_RULES_PATH)) -> MixRules:
    """The mix rules, validated: every problem is a MixRuleError naming the field."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise MixRuleError(f"The mix rule file {path} cannot be read ({exc.strerror}).") from None
    except json.JSONDecodeError as exc:
        raise MixRuleError(f"mix_rules.json is not valid JSON (line {exc.lineno}): fix the file.") from None
    roles_raw, reverbs_raw, genres_raw = (_section(raw, k, "") for k in ("roles", "reverbs", "genres"))
    roles = {}
    for role in ROLES:
        r = _section(roles_raw, role, "roles")
        roles[role] = RoleMix(_num(r, "pan", f"roles/{role}", -1, 1), _num(r, "width", f"roles/{role}", 0, 1),
                              _num(r, "delay_ms", f"roles/{role}", 0, 40), _num(r, "send", f"roles/{role}", 0, 1),
                              _num(r, "gain_db", f"roles/{role}", -24, 12))
    reverbs = {kind: {k: _num(v, k, f"reverbs/{kind}", 0, 1) for k in ("room_size", "damping", "wet", "width")}
               for kind, v in reverbs_raw.items()}
    genres = {g: _genre(v, f"genres/{g}") for g, v in genres_raw.items()}
    auto = _section(raw, "automation", "")
    automation = Automation(*(_num(auto, k, "automation", lo, hi) for k, lo, hi in
                              (("body_intensity", 0.05, 0.95), ("lift_db", 0, 12), ("floor_db", -12, 0),
                               ("fall_s", 0.01, 4))))
    return MixRules(_num(raw, "width_hp_hz", "", 20, 2000), roles, reverbs, genres, automation)


def section_gain(bar_intensity, *, bar_s: float, n: int, sr: int, rules: MixRules | None = None) -> np.ndarray:
    """The per-sample gain (``n`` samples) of a region whose bars have ``bar_intensity`` (0..1)
    under ``rules.automation``: the climax lifted, the intro and quiet sections lowered, a rise
    swelling over the bar before it (a build), a fall quick; after the last bar it holds."""
    auto = (rules or load_mix_rules()).automation
    v = np.asarray(bar_intensity, dtype=np.float64)
    if v.size == 0 or auto.lift_db == 0 and auto.floor_db == 0:
        return np.ones(n, dtype=np.float32)
    db = np.clip(auto.lift_db * (v - auto.body_intensity) / (1.0 - auto.body_intensity), auto.floor_db, auto.lift_db)
    times, values = [0.0], [db[0]]
    for b in range(1, db.size):
        t = b * bar_s
        if db[b] > db[b - 1]:  # swell through the previous bar into the rise
            times += [t]
        else:
            times += [t, t + min(auto.fall_s, 0.5 * bar_s)]
            values += [db[b - 1]]
        values += [db[b]]
    curve = np.interp(np.arange(n) / sr, times, values)
    return (10.0 ** (curve / 20.0)).astype(np.float32)


def _board(items: list):
    import pedalboard as pb

    return pb.Pedalboard(items)


def _eq_plugins(eq: tuple) -> list:
    import pedalboard as pb

    make = {"low_shelf": lambda hz, g, q: pb.LowShelfFilter(cutoff_frequency_hz=hz, gain_db=g, q=q),
            "high_shelf": lambda hz, g, q: pb.HighShelfFilter(cutoff_frequency_hz=hz, gain_db=g, q=q),
            "peak": lambda hz, g, q: pb.PeakFilter(cutoff_frequency_hz=hz, gain_db=g, q=q),
            "highpass": lambda hz, g, q: pb.HighpassFilter(cutoff_frequency_hz=hz),
            "lowpass": lambda hz, g, q: pb.LowpassFilter(cutoff_frequency_hz=hz)}
    return [make[kind](hz, gain, q) for kind, hz, gain, q in eq]


def place_role(stem: np.ndarray, rule: RoleMix, *, sr: int, width_hp_hz: float) -> np.ndarray:
    """Balance pan (equal power, unity in the centre) and width (side = a delayed, high-passed
    copy of the mono sum; mid untouched)."""
    import pedalboard as pb

    out = stem.astype(np.float32, copy=True) * np.float32(10 ** (rule.gain_db / 20))
    if rule.pan:
        angle = (rule.pan + 1) * np.pi / 4
        out *= np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(np.sqrt(2))
    if rule.width > 0 and rule.delay_ms > 0:
        mono = out.mean(axis=1)
        d = int(round(rule.delay_ms * 1e-3 * sr))
        delayed = np.zeros_like(mono)
        delayed[d:] = mono[: mono.size - d]
        side = pb.Pedalboard([pb.HighpassFilter(cutoff_frequency_hz=width_hp_hz)])(delayed[None, :], sr)[0]
        side *= np.float32(rule.width)
        out[:, 0] += side
        out[:, 1] -= side
    return out


def duck_envelope(n: int, kick_times_s, *, sr: int, depth_db: float, release_ms: float) -> np.ndarray:
    """Gain per sample: down by ``depth_db`` 5 ms after each kick, back up over ``release_ms``."""
    gain = np.ones(n, dtype=np.float32)
    if depth_db <= 0:
        return gain
    floor = 1 - 10 ** (-depth_db / 20)
    attack, length = max(1, int(0.005 * sr)), int(5 * release_ms * 1e-3 * sr)
    shape = np.concatenate([np.linspace(0, 1, attack), np.exp(-np.arange(length) / (release_ms * 1e-3 * sr))])
    duck = np.zeros(n, dtype=np.float32)
    for t in sorted(kick_times_s):
        i = int(round(t * sr))
        if 0 <= i < n:
            m = min(n - i, shape.size)
            np.maximum(duck[i:i + m], (floor * shape[:m]).astype(np.float32), out=duck[i:i + m])
    return gain - duck


def mix_region(stems: dict, *, genre: str, reverb: str, kick_times_s=(), sr: int,
               rules: MixRules | None = None, gain: np.ndarray | None = None) -> np.ndarray:
    """Stereo mix of one region from its role stems (``{role: (n, 2)}``, same length), times
    ``gain`` (per sample: :func:`section_gain`) after the bus."""
    import pedalboard as pb

    rules = rules or load_mix_rules()
    n = max(s.shape[0] for s in stems.values())
    dry = np.zeros((n, 2), dtype=np.float32)
    music = np.zeros((n, 2), dtype=np.float32)  # everything the kick ducks
    send = np.zeros((n, 2), dtype=np.float32)
    for role, stem in stems.items():
        rule = rules.roles.get(role, RoleMix(0.0, 0.0, 0.0, 0.0))
        placed = place_role(stem, rule, sr=sr, width_hp_hz=rules.width_hp_hz)
        (dry if role == "drums" else music)[: placed.shape[0]] += placed
        send[: placed.shape[0]] += placed * np.float32(rule.send)
    bus = rules.genres.get(genre) or next(iter(rules.genres.values()))
    music *= duck_envelope(n, kick_times_s, sr=sr, **bus["duck"])[:, None]
    if reverb in rules.reverbs and np.any(send):
        rv = rules.reverbs[reverb]
        wet = _board([pb.Reverb(room_size=rv["room_size"], damping=rv["damping"], wet_level=rv["wet"], dry_level=0.0,
                                width=rv["width"])])(np.ascontiguousarray(send.T), sr).T
        music += wet
    x = np.ascontiguousarray((dry + music).T)
    x = _board(_eq_plugins(bus["eq"]) + [pb.Compressor(**bus["compressor"])])(x, sr)
    sat = bus["saturation"]
    if sat["mix"] > 0 and sat["drive_db"] > 0:
        # unity gain for quiet signals; rounds off what passes 3 x RMS / drive
        ref = 3 * float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) or 1.0
        drive = 10 ** (sat["drive_db"] / 20)
        driven = np.tanh(x * np.float32(drive / ref)) * np.float32(ref / drive)
        x = (1 - sat["mix"]) * x + np.float32(sat["mix"]) * driven.astype(np.float32)
    if gain is not None:
        x = x * gain[None, : x.shape[1]]
    return np.ascontiguousarray(x.T, dtype=np.float32)
