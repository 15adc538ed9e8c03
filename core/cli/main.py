"""Command line: ``python -m core analyze TRACK... --out DIR``.

Other tools script these names and files; keep them stable (see ../shared/tools).

Exit codes: 0 when everything worked; 1 when an input of a batch failed (it is reported on one
line with its file name and skipped, the others go on) or something unexpected went wrong; 2 for
a bad command line (an unknown option, a value out of its range: checked before any work) and a
command whose one input or setting is refused (a timeline with an error, an unknown model).
Messages are plain lines; ``--debug`` (or ``STUDIO_DEBUG=1``) adds the traceback of an unexpected
failure. Output folders are named from the input's file name made safe (:func:`safe_folder_name`)
and always lie inside ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
import unicodedata
from pathlib import Path

import pandas as pd

from core.analysis.analyze import AnalysisOptions, analyze
from core.analysis.segment import BOUNDARY_METHODS, SegmentOptions
from core.audio.load import AUDIO_TYPES, load_track, read_audio_file, safe_track_name, to_wav_bytes
from core.bounds import MAX_DURATION_S
from core.cli.compare import add_compare
from core.cli.cover import add_cover
from core.cli.export import add_export
from core.cli.leadsheet import add_leadsheet
from core.cli.similarity import add_cover_similarity
from core.cli.taste import add_taste
from core.cli.train_folder import add_train_folder
from core.describe.corpus import CorpusSpec, build_corpus, load_corpora
from core.describe.describe import Description, describe
from core.describe.models import DEFAULT_MODEL_NAME, ESTIMATORS, TARGETS, load_model, model_dirs, train
from core.errors import StudioError
from core.generate.catalog import load_catalog
from core.generate.examples import write_examples
from core.generate.levels import write_levels
from core.generate.render import render
from core.generate.timeline import load_timeline
from core.io import atomic_write
from core.progress import terminal_bar
from core.separation import DEFAULT_MODEL, MODELS, SeparationOptions, separate
from core.store.store import Store, max_duration_s
from core.workflow.loop import cached_loop, summary_by_title


def _analysis_options(args) -> AnalysisOptions:
    return AnalysisOptions(
        window_s=args.window_s,
        hop_s=args.hop_s,
        key_profile=args.key_profile,
        segmentation=SegmentOptions(
            k_min=args.k_min,
            k_max=args.k_max,
            boundary_method=args.boundary_method,
            min_segment_s=args.min_segment_s,
        ),
    )


def write_analysis(analysis, folder: Path, *, description: Description | None = None) -> None:
    """windows.csv, segments.csv and summary.json of one analysis into ``folder``.

    With a ``description`` (:func:`core.describe.describe.describe`), windows.csv gains the
    predictions and the vocal check's ``vocals_removed`` and ``voice_share`` columns (other
    tools script them), and segments.csv becomes the majority table.
    """
    windows, segments = analysis.windows, analysis.segments
    summary = analysis.summary()
    if description is not None:
        vocals = description.vocals
        share = float("nan") if vocals.voice_share is None else vocals.voice_share
        windows = description.windows.assign(vocals_removed=bool(vocals.removed), voice_share=share)
        summary["vocals_removed"] = bool(vocals.removed)
        if vocals.note and not vocals.checked:  # the vocals could not be checked: say why
            summary["vocals_note"] = vocals.note
            print(f"  note: {shown(vocals.note)}", file=sys.stderr)
        segments = description.majority
        summary["model"] = description.model_name
    atomic_write(folder / "windows.csv", windows.to_csv(index=False, float_format="%.6g").encode())
    atomic_write(folder / "segments.csv", segments.to_csv(index=False).encode())
    atomic_write(folder / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())


#: Longest output folder name, in bytes of UTF-8 (file systems allow 255; "-2" and more may follow).
MAX_FOLDER_BYTES = 120
#: Environment variable that turns on tracebacks of unexpected failures (as ``--debug`` does).
ENV_DEBUG = "STUDIO_DEBUG"


def shown(text) -> str:
    """``text`` safe to print on a terminal: control and format characters (escape sequences,
    newlines, bidi overrides) become ``?``."""
    return "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))


def safe_folder_name(stem: str) -> str:
    """A file stem made safe as one folder name (:func:`core.audio.load.safe_track_name`, NFC,
    at most ``MAX_FOLDER_BYTES`` bytes)."""
    return safe_track_name(unicodedata.normalize("NFC", str(stem)), max_bytes=MAX_FOLDER_BYTES)


def unique_folder_names(stems) -> list[str]:
    """A safe folder name per stem; names that collide (also in letter case alone, for file
    systems that ignore it) get -2, -3..."""
    used: set[str] = set()
    out = []
    for stem in stems:
        base = safe_folder_name(stem)
        name, i = base, 2
        while name.lower() in used:
            name = f"{base}-{i}"
            i += 1
        used.add(name.lower())
        out.append(name)
    return out


def output_folder(out: Path, name: str, *, checked: bool = True) -> Path:
    """The folder ``out/<name>`` (``name`` made safe unless ``checked`` is False), asserted to lie
    inside ``out``: the one way every command builds a per-track output path."""
    root = Path(out).resolve()
    folder = (root / (safe_folder_name(name) if checked else name)).resolve()
    if folder.parent != root:
        raise AssertionError(f"output folder {folder} is not inside {root}")
    return folder


def _output_names(paths) -> list[tuple[Path, str]]:
    """Each input path with its output folder name (:func:`unique_folder_names` of the stems)."""
    paths = [Path(p) for p in paths]
    return list(zip(paths, unique_folder_names(p.stem for p in paths)))


def _read_input(path: Path) -> bytes:
    """The file's bytes: only a regular file, within the file-size cap (else an AudioError)."""
    return read_audio_file(path)


def _suffix(path: Path) -> str:
    """The extension to store the track under: the file's own when it is an audio type, else
    none (the content decides)."""
    return path.suffix if path.suffix.lower() in AUDIO_SUFFIXES else ""


def _track(path: Path, store):
    """The track at ``path``: kept in the store when there is one."""
    data = _read_input(path)
    if store is not None:
        return store.add_track(data, name=path.stem, suffix=_suffix(path))
    return load_track(data, name=path.stem, max_duration_s=max_duration_s())


def cmd_analyze(args) -> int:
    options = _analysis_options(args)
    store = None if args.no_store else Store(args.data_dir)
    model = load_model(args.model) if args.model else None
    out = Path(args.out)

    def one(path: Path, name: str) -> None:
        track = _track(path, store)
        description = None
        with terminal_bar(shown(path.name), enabled=not args.quiet) as bar:
            if model is None:
                analysis = analyze(track, options=options, progress=bar, store=store)
            else:
                description = describe(track, model=model, options=options, remove_vocals=args.remove_vocals,
                                       store=store, progress=bar)
                analysis = description.analysis
        folder = output_folder(out, name)
        write_analysis(analysis, folder, description=description)
        for w in analysis.warnings:
            print(f"  note: {shown(path.name)}: {shown(w)}", file=sys.stderr)
        print(f"{shown(path.name)}: {analysis.duration_s:.1f} s, {analysis.tempo_bpm:.1f} BPM, "
              f"{analysis.key or 'no key'}, {len(analysis.segments)} segments (k={analysis.k}) -> {shown(folder)}")

    return _each_track(args.tracks, one, debug=args.debug)


def _each_track(tracks, work, *, debug: bool = False) -> int:
    """``work(path, output_name)`` for every input; a track that fails is reported on one line
    (with its file name) and skipped, also when the failure is unexpected (a bug: the traceback
    follows with ``debug``). Exit code 1 when any failed."""
    failures = 0
    for path, name in _output_names(tracks):
        try:
            work(path, name)
        except StudioError as exc:
            failures += 1
            print(f"error: {shown(path.name)}: {shown(exc)} (skipped)", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - reported, and the batch goes on
            failures += 1
            print(f"error: {shown(path.name)}: {_unexpected(exc, debug)} (skipped)", file=sys.stderr)
    return 1 if failures else 0


def _unexpected(exc: BaseException, debug: bool) -> str:
    """One line on an unexpected failure (the traceback goes to stderr first with ``debug``)."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
        return f"unexpected failure ({type(exc).__name__}: {shown(exc)})"
    return (f"unexpected failure ({type(exc).__name__}: {shown(exc)}); run again with --debug "
            f"(or {ENV_DEBUG}=1) for the details")


def cmd_separate(args) -> int:
    """Stems of each track into OUT/<track stem>/<stem name>.wav at the input's rate and length."""
    options = SeparationOptions(model=args.model, segment_s=args.segment_s, overlap=args.overlap,
                                shifts=args.shifts)
    store = None if args.no_store else Store(args.data_dir)
    weights = Path(args.weights_dir) if args.weights_dir else None
    out = Path(args.out)

    def one(path: Path, name: str) -> None:
        track = _track(path, store)
        with terminal_bar(shown(path.name), enabled=not args.quiet) as bar:
            stems = separate(track, options=options, store=store, weights_dir=weights, progress=bar)
        folder = output_folder(out, name)
        for stem_name, audio in stems.stems.items():
            atomic_write(folder / f"{stem_name}.wav", to_wav_bytes(audio, stems.sample_rate, subtype="FLOAT"))
        for note in stems.notes:
            print(f"  note: {shown(path.name)}: {shown(note)}", file=sys.stderr)
        print(f"{shown(path.name)}: {', '.join(stems.names)} ({options.model}) -> {shown(folder)}")

    return _each_track(args.tracks, one, debug=args.debug)


AUDIO_SUFFIXES = tuple(f".{t}" for t in AUDIO_TYPES)


def _expand_inputs(items) -> list[Path]:
    """Files as given; folders as the audio files inside them (sorted)."""
    out: list[Path] = []
    for raw in items:
        p = Path(raw)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
        else:
            out.append(p)
    return out


def cmd_loop(args) -> int:
    """Reference tracks -> single- and multi-region renders -> the same model judges them."""
    inputs = _expand_inputs(args.tracks)
    if not inputs:
        raise StudioError("No audio files found in the given folders.")
    store = Store(args.data_dir)
    model = load_model(args.model)
    out = Path(args.out)
    singles, multis = [], []

    def one(path: Path, name: str) -> None:
        track = store.add_track(_read_input(path), name=path.stem, suffix=_suffix(path))
        with terminal_bar(shown(path.name), enabled=not args.quiet) as bar:
            result = cached_loop(name, track, store=store, model=model, variations=args.variations, seed=args.seed,
                                 remove_vocals=args.remove_vocals, progress=bar)
        folder = output_folder(out, name)
        for item in result.plan:
            rendered = render(item.timeline, seed=item.seed, store=store)  # a lookup; renders again if lost
            atomic_write(folder / f"{item.key}.wav", rendered.wav_bytes())
            atomic_write(folder / f"{item.key}.mid", rendered.midi_bytes())
            record = {"seed": item.seed, "kind": item.kind, "variation": item.variation,
                      "timeline": json.loads(item.timeline.to_json())}
            atomic_write(folder / f"{item.key}.json", (json.dumps(record, indent=2) + "\n").encode())
        singles.append(result.single)
        multis.append(result.multi)
        print(f"{shown(path.name)}: {len(result.plan)} renders -> {shown(folder)}")

    code = _each_track(inputs, one, debug=args.debug)
    if singles:
        _write_loop_tables(out, pd.concat(singles, ignore_index=True), pd.concat(multis, ignore_index=True))
    return code


def _write_loop_tables(out: Path, single, multi) -> None:
    tables = {"single_region.csv": single, "multi_region.csv": multi,
              "single_region_summary.csv": summary_by_title(single),
              "multi_region_summary.csv": summary_by_title(multi)}
    for fname, table in tables.items():
        atomic_write(out / fname, table.to_csv(index=False).encode())
    for label, fname in (("single-region accuracy", "single_region_summary.csv"),
                         ("multi-region consistency", "multi_region_summary.csv")):
        mean = tables[fname].iloc[-1]
        print(f"{label:25s} " + "  ".join(f"{t} {mean[t]:.3f}" for t in TARGETS_FOR_PRINT))


TARGETS_FOR_PRINT = ("genre", "subgenre", "mood", "sentiment", "valence", "momentum")


def cmd_render(args) -> int:
    timeline = load_timeline(args.timeline)
    with terminal_bar(shown(Path(args.timeline).name), enabled=not args.quiet) as bar:
        result = render(timeline, seed=args.seed, progress=bar)
    out = Path(args.output)
    atomic_write(out, result.wav_bytes())
    if args.midi:
        atomic_write(Path(args.midi), result.midi_bytes())
    bands = ", ".join(f"{r.id}: {r.descriptor} / {r.band}" for r in result.regions)
    print(f"{shown(out)}: {result.duration_s:.1f} s, {result.loudness_lufs:.1f} LUFS, peak {result.peak_dbfs:.1f} dBFS "
          f"(seed {result.seed}; {bands})")
    return 0


def cmd_examples(args) -> int:
    """One short render per genre into assets/examples (OGG) plus their timelines."""
    for path in write_examples(Path(args.out), duration_s=args.duration_s, seed=args.seed):
        print(path)
    return 0


def cmd_corpus(args) -> int:
    descriptors = None
    if args.descriptors or args.genres:
        catalog = load_catalog()
        names = [n.strip() for n in (args.descriptors or "").split(",") if n.strip()]
        for n in names:
            catalog.get(n)  # unknown names get suggestions
        genres = {g.strip() for g in (args.genres or "").split(",") if g.strip()}
        unknown = genres - set(catalog.tree())
        if unknown:
            raise StudioError(f"Unknown genre(s): {', '.join(sorted(unknown))}. Genres: {', '.join(catalog.tree())}.")
        names += [n for n in catalog.names() if catalog.get(n).genre in genres and n not in names]
        descriptors = tuple(names)
    spec = CorpusSpec(per_descriptor=args.per_descriptor, seed=args.seed, descriptors=descriptors,
                      durations_s=args.durations)
    with terminal_bar("corpus", enabled=not args.quiet) as bar:
        result = build_corpus(spec, out_dir=args.out, n_jobs=args.jobs, backend=args.backend,
                              scheduler=args.scheduler, progress=bar)
    for failure in result.failures:
        print(f"error: {shown(failure)}", file=sys.stderr)
    print(f"{result.path}: {result.n_renders} renders, {result.n_windows} windows "
          f"({result.rendered_now} rendered now)")
    return 1 if result.failures else 0


def cmd_train(args) -> int:
    corpus = load_corpora(args.corpus)
    name = args.name or args.estimator
    with terminal_bar(f"train {name}", enabled=not args.quiet) as bar:
        model = train(corpus, kind=args.estimator, name=name, test_size=args.test_size, seed=args.seed,
                      threshold=args.threshold, window_step=args.window_step, progress=bar)
    folder = model.save(Path(args.out) if args.out else model_dirs()[1] / name)
    print(f"{folder}: {model.config['renders']} renders, {model.config['windows']} windows")
    print("held-out renders   " + "  ".join(f"{t:>9s}" for t in TARGETS))
    for level in ("window_accuracy", "render_accuracy", "forced_accuracy", "confident_accuracy", "unknown_share"):
        print(f"{level:18s} " + "  ".join(f"{model.metrics[t].get(level, float('nan')):9.3f}" for t in TARGETS))
    return 0


def cmd_levels(args) -> int:
    print(write_levels())
    return 0


#: Seeds are 32-bit (core.generate.render checks the same range).
MAX_SEED = 2**32 - 1
#: Most variations of a loop (core.workflow.loop.plan_loop refuses more).
MAX_VARIATIONS = 20


def _number(kind, lo: float, hi: float, *, above: bool = False):
    """An argparse ``type``: a ``kind`` (int or float) from ``lo`` (exclusive with ``above``) to
    ``hi``; anything else (text, NaN, infinity, out of range) is a usage error (exit 2)."""
    what = "a whole number" if kind is int else "a number"
    span = f"above {lo:g} and up to {hi:g}" if above else f"from {lo:g} to {hi:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not ((value > lo if above else value >= lo) and value <= hi):  # NaN fails both
            raise argparse.ArgumentTypeError(f"give {what} {span} (got {shown(text)!r})")
        return value

    return parse


def _durations(text: str) -> tuple[float, ...]:
    """``--durations``: comma-separated render lengths, each 1 to 600 seconds."""
    one = _number(float, 1.0, 600.0)
    try:
        return tuple(one(x.strip()) for x in text.split(",") if x.strip()) or one("")
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"comma-separated seconds, each 1 to 600: {exc}") from None


SEED = _number(int, 0, MAX_SEED)


def _add_analyze(sub) -> None:
    a = sub.add_parser("analyze", help="Analyse tracks: per-window tempo/key/features and the form.")
    a.add_argument("tracks", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, AIFF)")
    a.add_argument("--out", required=True, help="output folder; one sub-folder per track")
    a.add_argument("--window-s", type=_number(float, 0.5, 120.0), default=10.0, help="window length in seconds (default 10)")
    a.add_argument("--hop-s", type=_number(float, 0.0, 120.0, above=True), default=2.0, help="window hop in seconds (default 2)")
    a.add_argument("--key-profile", default=None, help="key profile name (assets/key_profiles.json)")
    a.add_argument("--k-min", type=_number(int, 1, 12), default=None, help="fewest section types (default: by duration)")
    a.add_argument("--k-max", type=_number(int, 1, 12), default=None, help="most section types (default: by duration)")
    a.add_argument("--boundary-method", choices=BOUNDARY_METHODS, default="novelty")
    a.add_argument("--min-segment-s", type=_number(float, 0.0, 120.0), default=6.0, help="shortest segment in seconds (default 6)")
    a.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    a.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    a.add_argument("--model", default=None, help="add per-window predictions and the majority table (model name)")
    vocals = a.add_mutually_exclusive_group()
    vocals.add_argument("--remove-vocals", dest="remove_vocals", action="store_const", const="on", default="auto",
                        help="with --model: always classify the accompaniment (vocals removed by the 2-stem "
                             "separation); default: only for tracks with a voice")
    vocals.add_argument("--keep-vocals", dest="remove_vocals", action="store_const", const="off",
                        help="with --model: classify the full mix even when it has a voice")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_analyze)


def _add_render(sub) -> None:
    r = sub.add_parser("render", help="Render a timeline JSON to WAV (and MIDI).")
    r.add_argument("timeline", help="timeline JSON (see docs/timeline.md)")
    r.add_argument("-o", "--output", required=True, help="output WAV (24-bit, 44.1 kHz stereo)")
    r.add_argument("--midi", default=None, help="also write the arrangement as a MIDI file")
    r.add_argument("--seed", type=SEED, default=0, help="same seed, same music (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_render)


def _add_examples(sub) -> None:
    e = sub.add_parser("examples", help="Render one short example per genre (assets/examples).")
    e.add_argument("--out", default="assets/examples")
    e.add_argument("--duration-s", type=_number(float, 1.0, MAX_DURATION_S), default=20.0)
    e.add_argument("--seed", type=SEED, default=1)
    e.set_defaults(func=cmd_examples)


def _add_corpus(sub) -> None:
    c = sub.add_parser("corpus", help="Render and featurise the training corpus (resumable).")
    c.add_argument("--per-descriptor", type=_number(int, 1, 1000), required=True, help="renders per descriptor and duration")
    c.add_argument("--out", required=True, help="corpus folder (resumes if it holds the same corpus)")
    c.add_argument("--durations", type=_durations, default="10,30,60", help="render lengths in seconds (default 10,30,60)")
    c.add_argument("--descriptors", default=None, help="comma-separated descriptors (default: the whole catalog)")
    c.add_argument("--genres", default=None, help="comma-separated genres to include")
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--jobs", type=_number(int, 1, 256), default=2, help="worker processes (default 2)")
    c.add_argument("--backend", choices=("loky", "dask"), default="loky")
    c.add_argument("--scheduler", default=None, help="Dask scheduler address for --backend dask")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_corpus)


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="Train descriptor classifiers on a corpus.")
    t.add_argument("--corpus", required=True, nargs="+",
                   help="corpus folder(s) (python -m core corpus); several are trained on together")
    t.add_argument("--estimator", choices=ESTIMATORS, default="mlp")
    t.add_argument("--name", default=None, help="model name (default: the estimator)")
    t.add_argument("--out", default=None, help="model folder (default: $STUDIO_DATA_DIR/models/NAME)")
    t.add_argument("--test-size", type=_number(float, 0.05, 0.5), default=0.3, help="share of renders held out (default 0.3)")
    t.add_argument("--threshold", type=_number(float, 0.0, 1.0), default=0.4, help="below this probability a target is 'unknown'")
    t.add_argument("--window-step", type=_number(int, 1, 10_000), default=1, help="keep every n-th window of a render")
    t.add_argument("--seed", type=SEED, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)


def _add_separate(sub) -> None:
    sp = sub.add_parser("separate", help="Split tracks into stems (vocals/accompaniment, or Demucs' four).")
    sp.add_argument("tracks", nargs="+", help="audio files")
    sp.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL,
                    help=f"separation model (default {DEFAULT_MODEL}: vocals + accompaniment)")
    sp.add_argument("--out", required=True, help="output folder: OUT/<track stem>/<stem name>.wav")
    sp.add_argument("--segment-s", type=_number(float, 1.0, 60.0), default=None, help="Demucs segment length in seconds")
    sp.add_argument("--overlap", type=_number(float, 0.0, 0.9), default=0.25, help="Demucs segment overlap (default 0.25)")
    sp.add_argument("--shifts", type=_number(int, 0, 10), default=0, help="Demucs random-shift passes (default 0)")
    sp.add_argument("--weights-dir", default=None, help="model weights folder (default $STUDIO_WEIGHTS_DIR or weights/)")
    sp.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    sp.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_separate)


def _add_loop(sub) -> None:
    lp = sub.add_parser("loop", help="Render from reference tracks and judge the renders with the same model.")
    lp.add_argument("tracks", nargs="+", help="reference tracks, or folders of them")
    lp.add_argument("--out", required=True, help="output folder: both tables (CSV) and OUT/<title>/ renders")
    lp.add_argument("--variations", type=_number(int, 1, MAX_VARIATIONS), default=3, help="renders per timeline (other seeds and bands)")
    lp.add_argument("--model", default=DEFAULT_MODEL_NAME, help=f"descriptor model (default {DEFAULT_MODEL_NAME})")
    lp.add_argument("--seed", type=SEED, default=0)
    lp_vocals = lp.add_mutually_exclusive_group()
    lp_vocals.add_argument("--remove-vocals", dest="remove_vocals", action="store_const", const="on", default="auto")
    lp_vocals.add_argument("--keep-vocals", dest="remove_vocals", action="store_const", const="off")
    lp.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    lp.add_argument("--quiet", action="store_true")
    lp.set_defaults(func=cmd_loop)


def _add_levels(sub) -> None:
    lv = sub.add_parser("levels", help="Measure the soundfont's instrument levels (assets/gm_levels.json).")
    lv.set_defaults(func=cmd_levels)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Music studio command line.")
    p.add_argument("--debug", action="store_true", help=f"tracebacks of unexpected failures (or {ENV_DEBUG}=1)")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_analyze, _add_render, _add_examples, _add_corpus, _add_train, _add_separate, _add_loop,
                _add_levels, add_leadsheet, add_cover_similarity, add_cover, add_compare, add_export, add_train_folder):
        add(sub)
    add_taste(sub)
    for command in sub.choices.values():  # also after the command: python -m core analyze ... --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    """Run one command; its exit code (see the module docstring). A usage error exits with 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = bool(args.debug) or os.environ.get(ENV_DEBUG, "").strip() not in ("", "0")
    try:
        return args.func(args)
    except StudioError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug, said in one line (the traceback with --debug)
        print(f"error: {_unexpected(exc, args.debug)}", file=sys.stderr)
        return 1
