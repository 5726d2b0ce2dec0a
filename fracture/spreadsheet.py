"""CSV cells that a spreadsheet opens as text, never as a formula.

A file named ``=HYPERLINK(...).png`` lands in the ``path`` column of ``predictions.csv``;
Excel, LibreOffice and Sheets run a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return) as a formula. Such string cells are written with a leading ``'``, the
quote spreadsheets show as "text" (OWASP's advice), and ``read_cell`` removes it again, so
the CSVs fracture reads back (manifests, ``predictions.csv``) keep the original strings.
Numbers, and strings that are numbers (``-0.5``), stay as they are.
"""

import os

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def safe_cell(value):
    """``value`` as written to a CSV: a formula-like string (or path) quoted, others unchanged."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _is_number(value):
        return _QUOTE + value
    return value


def safe_row(values) -> list:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]


def read_cell(text: str) -> str:
    """The string :func:`safe_cell` was given (a quote added by it removed)."""
    if text.startswith(_QUOTE) and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
