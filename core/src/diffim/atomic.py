"""Atomic file output: a file appears complete or not at all.

Every output file diffim writes goes through :func:`atomic_write`: the data
are written to a hidden temporary file in the destination directory and
renamed onto the destination only when writing succeeded, so an interrupted
run (an exception, Ctrl-C, a killed batch job) never leaves a truncated file
that a later run would mistake for a result.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

#: This host's name, as written into temporary file names.
_HOST = socket.gethostname().replace("/", "_") or "localhost"

#: The writer part of a temporary file name.
_TEMPORARY = re.compile(r"\.tmp-(?P<pid>\d+)@(?P<host>.+)-[0-9a-f]{8}")



def _temporary_name(path: Path) -> Path:
    """Hidden sibling of ``path``: ``.<name>.tmp-<pid>@<host>-<random><suffix>``.

    The destination's last suffix is kept so that writers which choose a
    format or compression from the file name (``.gz``) behave as they would
    for the destination itself; the writer's process id and host let
    :func:`staleTemporaries` tell a killed writer's leftovers from files being written.
    """
    token = secrets.token_hex(4)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}@{_HOST}-{token}{path.suffix}")


def _alive(pid: int) -> bool:
    """True if process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staleTemporaries(directory: str | os.PathLike) -> list[Path]:
    """Temporary files under ``directory`` left by writers on this host that no longer run.

    A process killed while writing (SIGKILL, a crash) cannot remove its
    temporary file; these are safe to delete. Files of writers on other hosts,
    or still running, are not listed.
    """
    stale = []
    for path in sorted(Path(directory).rglob(".*.tmp-*")):
        match = _TEMPORARY.search(path.name)
        if match and match["host"] == _HOST and not _alive(int(match["pid"])):
            stale.append(path)
    return stale


def _fsync(path: Path) -> None:
    """Flush the file's data to disk so the rename cannot expose an empty file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished temporary file onto ``path``.

    Without ``overwrite`` a hard link is made instead of a rename, which fails
    if another process created ``path`` in the meantime; file systems without
    hard links fall back to a rename after the existence check already made.
    """
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(f"{path}: file exists (pass overwrite=True to replace it)") from None
    except OSError:
        os.replace(tmp, path)
        return
    tmp.unlink()


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Check that ``path`` may be written; return it as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        If the file exists and ``overwrite`` is False, or its directory does not exist.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise OutputError(f"{path}: file exists (pass overwrite=True to replace it)")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: directory {path.parent} does not exist")
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Context manager giving a temporary path to write instead of ``path``.

    The temporary file lives in the same directory (so the final rename stays
    on one file system) and is renamed onto ``path`` with :func:`os.replace`
    when the block ends normally. On any exception, KeyboardInterrupt
    included, it is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The destination file.
    overwrite : bool
        Replace an existing ``path``; when False an existing file is an error.

    Yields
    ------
    pathlib.Path
        The temporary file to create and write (it does not exist yet).

    Raises
    ------
    OutputError
        If ``path`` exists and ``overwrite`` is False, or its directory is missing.

    Examples
    --------
    >>> with atomic_write("result.fits") as tmp:          # doctest: +SKIP
    ...     hdulist.writeto(tmp)
    """
    path = check_writable(path, overwrite)
    tmp = _temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        _publish(tmp, path, overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path written.

    Parameters
    ----------
    path : str or os.PathLike
        The destination file.
    text : str
        The whole content.
    overwrite : bool
        Replace an existing ``path``; when False an existing file is an error.
    """
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
