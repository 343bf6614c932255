"""Error messages fit for one terminal line.

Every error diffim prints is one line of at most :data:`MAX_LINE` characters. A longer
message first loses the leading folders of the paths it names (down to the file name),
then, if still too long, its middle, so that the start (what failed) and the end (what
was expected) are kept.
"""
from __future__ import annotations

import re

#: Longest error line, prefix included.
MAX_LINE = 200

#: Marks what a shortened message left out.
ELLIPSIS = "…"

#: A path of folders and a name that starts at the root, at the home folder,
#: at ``.``/``..`` or at the ellipsis of an earlier cut (so that a YAML tag such as
#: ``!!python/object/apply`` is not taken for one).
_PATH = re.compile(r"(?<![\w.…/])(?:~|\.\.?|…)?/(?:[\w.+~-]+/)+[\w.+~*-]+")


def shortenPaths(text: str, keep: int) -> str:
    """``text`` with every path cut to its last ``keep`` components after an ellipsis,
    where that makes it shorter."""
    def cut(match: re.Match) -> str:
        path = match.group(0)
        shorter = "/".join([ELLIPSIS, *path.split("/")[-keep:]])
        return shorter if len(shorter) < len(path) else path

    return _PATH.sub(cut, text)


def oneLine(message: str, width: int = MAX_LINE) -> str:
    """``message`` as one line of at most ``width`` characters.

    Runs of whitespace (newlines included) become one space; then, while too long,
    paths are cut to their last two components, then to their file name, and finally
    the middle of the message is elided.
    """
    line = " ".join(message.split())
    for keep in (2, 1):
        if len(line) <= width:
            return line
        line = shortenPaths(line, keep)
    if len(line) <= width:
        return line
    tail = (width - len(ELLIPSIS)) // 3
    head = width - len(ELLIPSIS) - tail
    return f"{line[:head].rstrip()}{ELLIPSIS}{line[-tail:].lstrip()}"
