"""Read job and flow files from disk (the shell around :mod:`cronflow.core.definition.job`).

A directory loads file by file: one bad file never hides the others. The result holds the
good definitions by name and every error, each a :class:`~cronflow.errors.ConfigError`
with ``path:line``. Duplicate names across files and flow steps naming a missing job are
errors too; the file at fault is then left out of the definitions.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from cronflow.errors import ConfigError
from cronflow.core.definition.digest import with_text
from cronflow.core.definition.job import check_definition, check_references
from cronflow.core.definition.loaded import LoadResult
from cronflow.model import Definition
from cronflow.shell.files import check_job_file, is_job_file, packed_stamp, read_job_file


def job_files(directory: Path) -> list[Path]:
    """The job files directly in ``directory``, sorted by name.

    Raises :class:`ConfigError` when the directory cannot be listed.
    """
    return [directory / name for name in job_file_names(directory)]


def job_file_names(directory: str | Path) -> list[str]:
    """The names of :func:`job_files` (no Path objects: 100,000 of them cost 0.3 s)."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if is_job_file(e.name) and _is_file(e))
    except FileNotFoundError:
        raise ConfigError(str(directory), None, "no such directory") from None
    except NotADirectoryError:
        raise ConfigError(str(directory), None, "not a directory") from None
    except OSError as exc:
        raise ConfigError(str(directory), None, f"cannot read directory: {exc.strerror}") from None
    return names


def definition_names(directory: Path) -> list[str]:
    """The names the job and flow files of ``directory`` go by (their file names, which
    a ``name`` key rarely overrides): what "did you mean" offers for a mistyped name."""
    directory = Path(directory)
    return [path.stem for path in job_files(directory)] if directory.is_dir() else []


def load_file(path: str | Path, *, now: datetime, default_timezone: str | None = None,
              pools: Collection[str] | None = None) -> Definition:
    """Load one file; raise its first ConfigError (by line) if it has any. ``pools``: the
    pool names of cronflow.toml, when a ``pool`` key naming another is to be an error."""
    definition, errors = _load_one(path, now=now, default_timezone=_zone(default_timezone), pools=pools)
    if errors:
        raise errors[0]
    assert definition is not None
    return definition


def load_dir(directory: Path, *, now: datetime, default_timezone: str | None = None,
             pools: Collection[str] | None = None) -> LoadResult:
    """Load every job file in ``directory``; raise ConfigError only if it cannot be listed."""
    result = LoadResult()
    _load_files(result, job_files(Path(directory)), now=now, zone=_zone(default_timezone), pools=pools)
    _drop_bad_references(result, {})
    return result


def load_paths(paths: Iterable[Path], *, now: datetime, default_timezone: str | None = None,
               references: Mapping[str, Definition] | None = None,
               pools: Collection[str] | None = None) -> LoadResult:
    """Load the given files (directories expand to their job files), collecting all errors.

    Names are claimed in order: a later file with an already taken name is an error.
    Flow steps are then checked against the jobs loaded (and ``references``: jobs known
    from elsewhere, e.g. beside a file checked alone), and a flow naming a missing job
    is left out.
    """
    zone = _zone(default_timezone)
    result = LoadResult()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            try:
                files = job_files(path)
            except ConfigError as exc:
                result.errors.append(exc)
                continue
        else:
            files = [path]
        _load_files(result, files, now=now, zone=zone, pools=pools)
    _drop_bad_references(result, references or {})
    return result


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: a load of many files makes millions of objects
    that all live on, which the collector would scan again and again (a quarter of the
    time of loading 100,000 files) to find nothing; a definition makes no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# the young generation's threshold once loaded (the default is 700)
YOUNG_THRESHOLD = 20_000


def settle_collector() -> None:
    """After a daemon's initial load: what is loaded lives as long as the daemon, so it
    leaves the collector's full passes (``gc.freeze``), whose pauses would land on fires
    (SPEC section 10); and the young generation is collected less often: a run makes a
    few hundred short-lived objects (futures, frames, rows), all gone by the time a
    collection at the default 700 looks at them, a couple of runs later."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _load_files(result: LoadResult, files: list[Path], *, now: datetime, zone: str,
                pools: Collection[str] | None = None) -> None:
    with paused_gc():
        _load_each(result, files, now=now, zone=zone, pools=pools)


def _load_each(result: LoadResult, files: list[Path], *, now: datetime, zone: str,
               pools: Collection[str] | None = None) -> None:
    for file in files:
        result.files.append(file)
        definition, errors = _load_one(file, now=now, default_timezone=zone, pools=pools)
        result.errors.extend(errors)
        if definition is None:
            continue
        other = result.definitions.get(definition.name)
        if other is not None:
            line = definition.lines.get("name")
            result.errors.append(ConfigError(
                str(file), line, f"duplicate name {definition.name!r}: {other.path} "
                "defines it too (set a distinct name = \"...\")"))
            continue
        result.definitions[definition.name] = definition


def find_definition(name: str, directory: Path, *, now: datetime,
                    default_timezone: str | None = None) -> Definition | None:
    """The job or flow called ``name`` in ``directory``, or None if there is none.

    ``<name>.toml`` is tried first (the common case, and fast with 10,000 files); the
    whole directory only when the name may come from a ``name = ...`` key. When the file
    of that name exists but is invalid, its first error is raised.
    """
    zone = _zone(default_timezone)
    candidate = directory / f"{name}.toml"
    if is_job_file(candidate.name) and candidate.is_file():
        definition = load_file(candidate, now=now, default_timezone=zone)
        if definition.name == name:
            return definition
    result = load_dir(directory, now=now, default_timezone=zone)
    if name in result.definitions:
        return result.definitions[name]
    for error in result.errors:
        if Path(error.path).stem == name:
            raise error
    return None


def _drop_bad_references(result: LoadResult, references: Mapping[str, Definition]) -> None:
    errors = check_references({**references, **result.definitions})
    # references may hold flows of their own: only this load's files are at fault
    loaded = {definition.path for definition in result.definitions.values()}
    errors = [error for error in errors if error.path in loaded]
    result.errors.extend(errors)
    bad = {error.path for error in errors}
    for name, definition in list(result.definitions.items()):
        if definition.path in bad:
            del result.definitions[name]


def _load_one(path: str | Path, *, now: datetime, default_timezone: str,
              pools: Collection[str] | None = None) -> tuple[Definition | None, list[ConfigError]]:
    # one string for the path: a caller passing one keeps it as its key too (no copies)
    path = os.fspath(path)
    try:
        text, info = read_job_file(path)
    except ConfigError as exc:
        return None, [exc]
    # with the hash every run of it records, from the bytes read here (one read per load)
    definition, errors = check_definition(path, text, now=now, default_timezone=default_timezone,
                                          pools=pools, keep_text=True)
    if definition is not None:
        # cron's rule: a file someone else can write is a way to run commands as us
        try:
            check_job_file(path, run_as=getattr(definition, "user", None), info=info)
        except ConfigError as exc:
            return None, [exc]
        # set on the object just built, which no one else holds yet: a replace() per file
        # would cost a second of a 100,000-file load
        object.__setattr__(definition, "file_stamp", packed_stamp(info))
    return definition, errors


def load_text(path: str, text: str, *, now: datetime, default_timezone: str | None = None) -> Definition:
    """A definition from text kept in the state database (what an earlier run ran, for
    ``retry`` and ``rerun``): parsed as the file at ``path`` was; its first error raised.
    The file checks do not apply: the text is no file anyone can write."""
    definition, errors = check_definition(path, text, now=now, default_timezone=_zone(default_timezone))
    if errors:
        raise errors[0]
    assert definition is not None
    return with_text(definition, text)


def _zone(default_timezone: str | None) -> str:
    if default_timezone is not None:
        return default_timezone
    from cronflow.shell.paths import default_timezone as system_default

    return system_default()


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
