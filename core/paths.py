"""Where the project's data lives: ``assets/`` (catalog, grooves, key profiles, levels,
schema, shipped models) and the checkout root (for ``weights/``)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
