"""User strings on a page as plain text, never as Markdown or HTML.

Streamlit renders the body of ``st.error``/``warning``/``info``/``success``/``markdown``/
``caption``/``write``, tab labels and progress texts as Markdown. A file name, a track or render
title, a note of the edit history or a message that quotes user input goes through :func:`plain`
first, so ``![x](http://host/x.png)`` shows as those characters and fetches nothing. (Options of
selectboxes and multiselects are plain text already: pass them as they are.) An exception that is
not a studio error shows :data:`UNEXPECTED` and goes to the server log, never its traceback.
"""

from __future__ import annotations

import re
import unicodedata

#: Characters that start Markdown, GFM, Streamlit directives (``:red[...]``, ``:material/x:``), LaTeX or
#: HTML; a backslash makes each literal (CommonMark escapes any ASCII punctuation).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$:@&=^\"'])")
#: At the start of a line these make a list item; their escape is only needed there.
_LEADING = re.compile(r"^(\s*)([-+]|\d+(?=[.)]))")
#: An absolute POSIX path (its last part is kept): a message must not show the server's folders.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")
#: A Python object's repr (``<_io.BytesIO object at 0x7f...>``) that a library put in its message.
_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")

#: A parenthesis that names a server setting (``(or set STUDIO_WEIGHTS_DIR to ...)``): settings are for whoever
#: runs the studio, named in the README and in a page's help, never in a message to a musician.
_SETTING = re.compile(r"\s*\([^()]*\bSTUDIO_[A-Z_]+\b[^()]*\)")

#: What a page says when something fails that is not the user's doing.
UNEXPECTED = ("Something went wrong on the studio's side, not with your file or settings. The details are in the "
              "server's log; reload the page or try again.")


def plain(text) -> str:
    """``text`` as one line of literal text for any Markdown-rendered place (backslash escapes;
    control characters become spaces)."""
    line = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))
    line = _SPECIAL.sub(r"\\\1", line)
    match = _LEADING.match(line)
    if match and match.group(2) in "-+":
        line = f"{match.group(1)}\\{line[match.end(1):]}"
    elif match:
        line = f"{line[:match.end()]}\\{line[match.end():]}"
    return line.replace("www.", "www\\.")


def hide_paths(text) -> str:
    """``text`` with every absolute path cut to its last part (``/srv/a/b.wav`` -> ``b.wav``) and
    every Python object's repr (``<_io.BytesIO object at 0x...>``) said as "the file"."""
    return _REPR.sub("the file", _PATH.sub(r"\1", str(text)))


def message(exc: BaseException) -> str:
    """A studio error's message for a page: its text, paths and server settings cut, as plain text."""
    return plain(_SETTING.sub("", hide_paths(exc)))


def status_line(status: str, history) -> str:
    """The edit history's status line (Markdown from core.workflow.editor.open_edits) with the
    current version's note, a user string, as plain text."""
    cursor = history.cursor()
    note = history.notes()[cursor - 1] if cursor else ""
    if note and status.endswith(note):
        return status[: len(status) - len(note)] + plain(note)
    return status
