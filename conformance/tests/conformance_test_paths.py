"""Where the suite's own tests find things (a uniquely named module: this folder is not a package)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINIMAL_RAIL = REPO / "docs" / "examples" / "minimal_rail"
HERE = Path(__file__).resolve().parent
