"""Single-file plugins: the ``*.py`` files of ``plugins_dir`` (SPEC section 17), each
imported as a module of its own; the plugin manager registers them by file name."""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from pathlib import Path
from types import ModuleType

Logger = logging.Logger | logging.LoggerAdapter


def python_files(directory: Path, logger: Logger) -> list[Path]:
    """The plugin files of ``directory``, sorted (not those starting with ``_`` or ``.``);
    none, logged, when it cannot be listed."""
    try:
        return sorted(path for path in directory.iterdir() if path.suffix == ".py" and path.is_file()
                      and not path.name.startswith((".", "_")))
    except FileNotFoundError:
        logger.warning("plugins_dir %s: no such directory; no local plugins loaded", directory)
    except OSError as exc:
        logger.error("plugins_dir %s: cannot list it: %s", directory, exc.strerror or exc)
    return []


def import_file(name: str, path: Path) -> ModuleType:
    """Import ``path`` afresh (a reload executes an edited file again)."""
    # a module name of cronflow's own, so that a local hello.py never shadows an import
    module_name = f"cronflow_local_plugins.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def import_error(exc: BaseException, path: Path) -> str:
    """What went wrong importing ``path``: ``ErrorType: message``, at the file's line
    when the error is in it."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    if line is None:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename == str(path):
                line = frame.lineno
                break
    where = f"{path}:{line}: " if line else ""
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{where}{type(exc).__name__}: {message}"
