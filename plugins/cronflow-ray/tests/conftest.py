"""Make the plugin importable when its tests run from a checkout without installing it
(``python -m pytest plugins/`` at the repository root); an installed copy wins."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("cronflow_ray") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
