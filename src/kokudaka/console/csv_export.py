"""CSV files for a town's or a farmer's own records, made to open in Excel as they are."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from starlette.responses import Response

from kokudaka.core.i18n import Language

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    # A name typed by a supporter must never run as a spreadsheet formula (CSV
    # injection); numbers the service wrote are left as they are.
    if text.startswith(_FORMULA_STARTS) and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def csv_response(
    filename: str, header: list[str], rows: Iterable[list[str]], language: Language
) -> Response:
    """UTF-8 with a byte order mark and CRLF line ends, as Excel in Japan expects."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Language": language,
        },
    )
