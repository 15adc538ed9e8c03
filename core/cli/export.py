"""``python -m core export TRACK_HASH_OR_PROJECT --out report.html [--project]``.

Writes the stakeholder report (:mod:`core.export.report`) of one stored track (its content
hash, or the start of it) or, with ``--project``, of a project (its name): one self-contained
HTML file that opens offline. A progress bar runs on stderr while the audio is encoded.

This module does not import :mod:`core.cli.main` (which adds the subcommand with
:func:`add_export`): that would be an import cycle. Errors a user can cause are
:class:`~core.errors.StudioError`; ``main`` turns them into one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import StudioError
from core.export.report import find_track, project_report, track_report
from core.io import atomic_write
from core.progress import terminal_bar
from core.store.store import Store


def add_export(sub) -> None:
    """Add the ``export`` subcommand to an argparse subparsers object."""
    e = sub.add_parser("export", help="Write the stakeholder report (one HTML file that opens offline) of a "
                                      "track or a project.")
    e.add_argument("target", help="a stored track's content hash (or its first 6+ characters); with --project, "
                                  "a project's name")
    e.add_argument("--out", required=True, help="the HTML file to write (e.g. report.html)")
    e.add_argument("--project", action="store_true", help="TARGET is a project's name: all its tracks in one file")
    e.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """Build the report and write it; 0 when written."""
    store = Store(args.data_dir)
    out = Path(args.out)
    if out.is_dir():
        raise StudioError(f"{out} is a folder: give the report's file name, e.g. {out / 'report.html'}.")
    with terminal_bar("Report", enabled=not args.quiet) as progress:
        if args.project:
            report = project_report(store, args.target, progress=progress)
        else:
            report = track_report(store, find_track(store, args.target), progress=progress)
    try:
        atomic_write(out, report.html.encode("utf-8"))
    except OSError as exc:
        raise StudioError(f"The report cannot be written to {out}: {exc}. Choose another --out.") from None
    print(f"{out}: {report.size_words()}")
    for what in report.missing:
        print(f"  missing: {what}")
    return 0
