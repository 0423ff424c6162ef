"""Frame names, naming the file in every error, and writing files atomically.

Every error names the file and the problem, because a user with a folder of a thousand frames needs to know
which one to look at. Writes go to a temporary file in the target folder and are renamed into place, so a
killed job never leaves a half-written file under a name a later run would take for finished.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

# The names of a frame's file: FITS, and tile-compressed FITS as fpack and observatory archives write it.
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.fz", ".fit.fz", ".fts.fz", ".fz")
_LONGEST_FIRST = sorted(FITS_SUFFIXES, key=len, reverse=True)  # x.fits.fz is frame x, not x.fits


class FrameError(ValueError):
    """A frame cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DiskFullError(OSError):
    """A product could not be written for want of space (ENOSPC) or quota (EDQUOT); the message names the
    product and the fix, for a user to whom the errno alone says nothing."""

    def __init__(self, path, cause: OSError):
        what = "disk quota exceeded" if cause.errno == errno.EDQUOT else "no space left on device"
        super().__init__(f"{what} writing {path}: free space on that disk or run from a folder on another one")
        self.errno = cause.errno
        self.path = Path(path)


def frame_stem(path) -> str | None:
    """Name of a frame file without its FITS suffix (and ``.gz``), or None if it is not a FITS name.

    The suffixes are FITS_SUFFIXES, any case: ``a.fits``, ``b.FIT``, ``c.fts.gz``, the tile-compressed
    ``d.fits.fz`` and ``e.fz`` are frames ``a`` to ``e``.
    """
    name = Path(path).name
    lower = name.lower()
    if lower.endswith(".gz"):
        name, lower = name[:-3], lower[:-3]
    for suffix in _LONGEST_FIRST:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


@contextmanager
def atomic_write(path):
    """Yield a temporary path beside ``path``; on success it becomes ``path`` (one rename), on failure it is
    removed. A killed job therefore never leaves a half-written file under the final name.

    Raises
    ------
    DiskFullError
        When the disk is full or the quota used up (ENOSPC, EDQUOT), naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(error, DiskFullError):
            raise DiskFullError(path, error) from error
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    """Write a text file (UTF-8) atomically."""
    with atomic_write(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
    return Path(path)


def log_to(path) -> logging.Logger:
    """A logger that writes to a rule's log file (and the console), for scripts."""
    logger = logging.getLogger("stackphot")
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(path, mode="w"), logging.StreamHandler()):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers = logger.handlers
    return logger
