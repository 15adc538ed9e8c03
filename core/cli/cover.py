"""``python -m core cover TRACK --genre GENRE --out DIR``: a cover of a track in another genre.

Writes DIR/cover.wav (24-bit, -14 LUFS), DIR/cover.mid (the new arrangement, the melody on its
lead), DIR/leadsheet.json (what was read from the track) and DIR/cover.json (the recipe and the
seed: the same command makes the same cover). Wired into ``core.cli.main`` by ``add_cover(sub)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pretty_midi

from core.cli.inputs import open_track
from core.covers.arrange import load_cover_rules
from core.covers.cover import CoverOptions, make_cover
from core.covers.timbre import instruments
from core.errors import OptionError
from core.io import atomic_write
from core.progress import terminal_bar


def melody_program(name: str | None) -> int | None:
    """A General MIDI program from its number (0-127) or its name ('Vibraphone', 'flute')."""
    if name is None:
        return None
    if name.strip().isdigit():
        return int(name)
    try:
        return int(pretty_midi.instrument_name_to_program(name.strip().title()))
    except ValueError:
        raise OptionError(f"'{name}' is not a General MIDI instrument name (e.g. Vibraphone, Flute, "
                          "Distortion Guitar) or program number 0-127.") from None


def cmd_cover(args) -> int:
    options = CoverOptions(genre=args.genre, descriptor=args.descriptor, tempo_bpm=args.tempo_bpm,
                           keep_vocals=args.keep_vocals, melody_program=melody_program(args.melody_instrument),
                           seed=args.seed, timbre=args.timbre)
    path = Path(args.track)
    track, store = open_track(path, data_dir=args.data_dir, no_store=args.no_store)
    with terminal_bar(path.name, enabled=not args.quiet) as bar:
        cover = make_cover(track, options=options, store=store, progress=bar)
    out = Path(args.out)
    atomic_write(out / "cover.wav", cover.render.wav_bytes())
    atomic_write(out / "cover.mid", cover.render.midi_bytes())
    atomic_write(out / "leadsheet.json", (cover.sheet.to_json() + "\n").encode())
    atomic_write(out / "cover.json", (json.dumps(cover.recipe, indent=1) + "\n").encode())
    for warning in cover.recipe.get("warnings", []):
        print(f"  note: {warning}", file=sys.stderr)
    r = cover.recipe
    print(f"{path.name}: cover as {r['descriptor']} ({r['band']}) at {r['tempo_bpm']:g} BPM (from "
          f"{r['source_tempo_bpm']:.0f}), {r['bars']} bars, melody: {r['melody']}, {r['loudness_lufs']:.1f} LUFS -> {out}")
    return 0


def add_cover(sub) -> None:
    """The ``cover`` subcommand on an argparse subparsers object."""
    cv = sub.add_parser("cover", help="Make a cover of a track in another genre (WAV, MIDI, lead sheet, recipe).")
    cv.add_argument("track", help="audio file (WAV, FLAC, OGG, MP3, AIFF), at least 10 s with a pulse")
    cv.add_argument("--genre", required=True, choices=sorted(load_cover_rules()), help="the cover's genre")
    cv.add_argument("--out", required=True, help="output folder: cover.wav, cover.mid, leadsheet.json, cover.json")
    melody = cv.add_mutually_exclusive_group()
    melody.add_argument("--keep-vocals", action="store_true",
                        help="sing the original vocal (separated, warped onto the new tempo) over the new band")
    melody.add_argument("--melody-instrument", default=None,
                        help="General MIDI instrument for the melody, name or number (default: the band's lead)")
    melody.add_argument("--timbre", choices=instruments(), default=None,
                        help="re-play the original vocal line on this instrument (a timbre transfer)")
    cv.add_argument("--descriptor", default=None, help="a descriptor of the genre (default: the one that suits the song)")
    cv.add_argument("--tempo-bpm", type=float, default=None, help="the cover's tempo (default: moved toward the genre)")
    cv.add_argument("--seed", type=int, default=0, help="same seed, same cover (default 0)")
    cv.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    cv.add_argument("--no-store", action="store_true", help="do not read or write the store")
    cv.add_argument("--quiet", action="store_true", help="no progress bar")
    cv.set_defaults(func=cmd_cover)
