"""How a chapter page looks: its first code cell (:func:`setup`), tables a reader can read, numbers and lists in
prose written for people (:func:`num`, :func:`words`).

:func:`setup` registers :func:`table_html` as the HTML form of every DataFrame, Series and Styler the chapter
displays, so each table on a page: has no 0..n index, formats numbers (thousands separators, a few significant
digits), writes lists and dicts as words, wraps its text instead of truncating it, and becomes a sentence when
it is empty or holds nothing but missing values.
"""

from __future__ import annotations

import html
import math
import os
import numbers
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from pandas.io.formats.style import Styler

from atlas.params import validate_notebook_params
from atlas.presets import Preset

#: Set by the book build (:data:`atlas.bookbuild.NOTE_ENV`) when a chapter shows a fallback preset.
BOOK_NOTE_ENV = "ATLAS_BOOK_NOTE"

#: Shown for a missing number in a table.
MISSING = "–"


def num(value: Any, digits: int = 3) -> str:
    """A number for people: ``1,285,120``; ``0.123``; ``4.5e+21``; ``–`` for NaN. Non-numbers are returned as text."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not isinstance(value, numbers.Number):
        return words(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    v = float(value)
    if not math.isfinite(v):
        return MISSING if math.isnan(v) else ("∞" if v > 0 else "-∞")
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e7 or a < 1e-3:
        return f"{v:.{digits}g}"
    if v.is_integer():
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.1f}"
    return f"{v:.{digits}f}"


def words(value: Any) -> str:
    """Lists, tuples, sets, dicts and numpy scalars as prose: ``eng, fra, cmn``; ``hin: 20,000``; ``1``."""
    if value is None:
        return "none"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Mapping):
        return ", ".join(f"{words(k)}: {num(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return ", ".join(num(v) for v in items) or "none"
    if isinstance(value, numbers.Number):
        return num(value)
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _cell(value: Any) -> str:
    """One table cell as HTML: text escaped (and allowed to wrap), a number formatted and kept on one line."""
    if _missing(value):
        return MISSING
    if isinstance(value, str):
        return html.escape(value)
    text = html.escape(num(value))
    return f'<span class="num">{text}</span>' if isinstance(value, numbers.Number) else text


def _header(name: Any) -> str:
    text = " ".join(map(str, name)).strip() if isinstance(name, tuple) else str(name)
    return html.escape(text.replace("_", " "))


def _has_default_index(frame: pd.DataFrame) -> bool:
    return isinstance(frame.index, pd.RangeIndex) and frame.index.name is None


def _plain(frame: pd.DataFrame, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table as HTML cells with readable headers; a meaningful index becomes ordinary leading columns and a
    0..n index goes. ``cells``: cells already written (a Styler's formats), same shape as ``frame``."""
    out = frame.apply(lambda col: col.map(_cell)) if len(frame) else frame.astype(object)
    if cells is not None:
        out = cells.where(~frame.isna(), MISSING)
    out = out.astype(object)
    out.columns = [_header(c) for c in out.columns]
    if not _has_default_index(frame):
        index = frame.index.to_frame(index=False).astype(object)
        index.columns = [_header(n) if n is not None else "" for n in frame.index.names]
        out = pd.concat([index.apply(lambda col: col.map(_cell)), out.reset_index(drop=True)], axis=1)
    return out


def _styled_cells(styler: Styler) -> pd.DataFrame:
    """A Styler's cells as it formats them: its own formatter where the chapter gave one, ours elsewhere."""
    data, funcs = styler.data, styler._display_funcs
    out = pd.DataFrame(index=data.index, columns=data.columns, dtype=object)
    for j in range(data.shape[1]):
        for i in range(data.shape[0]):
            value = data.iat[i, j]
            func = funcs[(i, j)] if (i, j) in funcs else None
            if getattr(getattr(func, "func", None), "__name__", "") == "_default_formatter":
                func = None  # pandas' own default (6 decimals, no separators): ours instead
            if func is not None and not _missing(value):
                text = html.escape(str(func(value)))
                out.iat[i, j] = f'<span class="num">{text}</span>' if isinstance(value, numbers.Number) else text
            else:
                out.iat[i, j] = _cell(value)
    return out


def is_blank(frame: pd.DataFrame) -> bool:
    """No rows, no columns, or nothing but missing values."""
    return frame.empty or bool(frame.isna().all().all())


def blank_sentence(frame: pd.DataFrame) -> str:
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return "<p><em>(No rows: nothing to show for this preset.)</em></p>"
    cols = ", ".join(str(c) for c in frame.columns[:8])
    return (f"<p><em>(All {len(frame):,} rows have no value in any column ({html.escape(cols)}): "
            "nothing was measurable here for this preset.)</em></p>")


def table_html(obj: pd.DataFrame | pd.Series | Styler) -> str:
    """HTML for a table on a book page (see the module docstring)."""
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    frame = obj.data if isinstance(obj, Styler) else obj
    if is_blank(frame):
        return blank_sentence(frame)
    cells = _styled_cells(obj) if isinstance(obj, Styler) else None
    body = _plain(frame, cells).to_html(index=False, escape=False, border=0, classes="dataframe atlas")
    return f'<div class="atlas-table">{body}</div>'


def setup(preset: str | Preset, languages: str | Iterable[str] | None = None,
          **extra: Any) -> tuple[Preset, list[str]]:
    """Every chapter's first code cell: validate the parameters (one clear error before any work), set the figure
    style and how tables render. Returns ``(preset, languages)`` as :func:`atlas.params.validate_notebook_params`."""
    cfg, langs = validate_notebook_params(preset, languages, **extra)
    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", None)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipykernel
        return cfg, langs
    shell = get_ipython()
    if shell is not None:
        html_formatter = shell.display_formatter.formatters["text/html"]
        for kind in (pd.DataFrame, pd.Series, Styler):
            html_formatter.for_type(kind, table_html)
        note = os.environ.get(BOOK_NOTE_ENV, "")
        if note:  # the book build chose a fallback preset for this chapter: say so at the top of the page
            from IPython.display import Markdown, display

            display(Markdown(f"> **Note.** {note}"))
    return cfg, langs
