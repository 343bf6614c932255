"""Refuse images too large for this machine before reading their pixels."""
from __future__ import annotations

import os

from .errors import InputError

#: Peak bytes a default run needs per science pixel (measured: 2.2 GB at 4096², see benchmarks/).
BYTES_PER_PIXEL = 150


def availableMemory() -> int:
    """Bytes of memory available to this process (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def checkImageFits(width: int, height: int, source: str) -> None:
    """Raise InputError if processing a ``width`` × ``height`` image would exhaust memory.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    source : str
        The file (or description) named in the error.
    """
    needed = width * height * BYTES_PER_PIXEL
    available = availableMemory()
    if needed > available:
        raise InputError(f"{source}: a {width}x{height} image needs about {needed / 2**30:.1f} GiB "
                         f"to process; {available / 2**30:.1f} GiB is available (cut it into "
                         "smaller pieces)")
