"""Lists that read well in an 80-column terminal: fixed columns, one column that gives way, and
a note (the reason, the error) wrapped under its row instead of cut off.

::

    request id                                           QSR   MRI   ok   left
    f7745b26-da09-48bd-9782-cc6b056a9a95.1.1.escalation  0.412 0.100 0/2  3h59m
        escalated step analysis: QSR 0.41 below 0.70 after 3 attempts; ...
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.text import Text

__all__ = ["Column", "Row", "print_rows"]

GAP = "  "
NOTE_INDENT = "    "


@dataclass(frozen=True, slots=True)
class Column:
    """A column: ``width`` None is the one that takes what is left (cut with an ellipsis).
    ``keep`` columns (ids) are never cut: they are what you type next."""

    name: str
    width: int | None = None
    justify: Literal["left", "right"] = "left"
    keep: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One row's cells (Rich markup allowed) and an optional note printed under it."""

    cells: Sequence[str]
    note: str = ""


def _widths(console: Console, columns: Sequence[Column], rows: Sequence[Row]) -> list[int]:
    natural = [
        max([len(c.name), *(Text.from_markup(r.cells[i]).cell_len for r in rows)])
        for i, c in enumerate(columns)
    ]
    widths = [
        n if c.width is None or c.keep else min(n, c.width)
        for c, n in zip(columns, natural, strict=True)
    ]
    fixed = sum(w for c, w in zip(columns, widths, strict=True) if c.width is not None or c.keep)
    left = console.width - fixed - len(GAP) * (len(columns) - 1)
    return [
        max(8, min(w, left)) if c.width is None and not c.keep else w
        for c, w in zip(columns, widths, strict=True)
    ]


def _cell(text: str, width: int, column: Column) -> Text:
    t = Text.from_markup(text)
    if not column.keep and t.cell_len > width:
        t.truncate(width, overflow="ellipsis")
    if column.justify == "right":
        t.pad_left(width - t.cell_len)
    else:
        t.pad_right(width - t.cell_len)
    return t


def print_rows(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Row]
) -> None:
    """Print ``rows`` under a header, each note wrapped to the terminal under its row."""
    console.print(Text(title, style="bold"))
    if not rows:
        return
    widths = _widths(console, columns, rows)
    header = Text(GAP).join(_cell(c.name, w, c) for c, w in zip(columns, widths, strict=True))
    header.rstrip()
    header.stylize("bold dim")
    console.print(header, no_wrap=True, crop=False, overflow="ignore")
    note_width = max(20, console.width - len(NOTE_INDENT))
    for r in rows:
        line = Text(GAP).join(
            _cell(v, w, c) for v, c, w in zip(r.cells, columns, widths, strict=True)
        )
        line.rstrip()
        console.print(line, no_wrap=True, crop=False, overflow="ignore")
        if r.note:
            wrapped = textwrap.fill(
                r.note,
                width=note_width + len(NOTE_INDENT),
                initial_indent=NOTE_INDENT,
                subsequent_indent=NOTE_INDENT,
                break_on_hyphens=False,
            )
            console.print(Text(wrapped, style="dim"), highlight=False, soft_wrap=True)
