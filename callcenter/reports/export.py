"""A report's rows as CSV or XLSX, written as they stream in (memory flat in the row count).

CSV goes out in chunks (``csv_chunks``: the HTTP layer writes each to the response as it comes); XLSX is written by
xlsxwriter in constant-memory mode (a row at a time to its temporary files), into a file the caller provides (a
spooled temporary file for a download). Text cells that a spreadsheet would run as a formula are escaped.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, BinaryIO
from urllib.parse import quote

import xlsxwriter

from callcenter.reports.query import Column

CSV_CHUNK_BYTES = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # a sheet's rows in Excel, the heading included; more rows go on to a next sheet
XLSX_MAX_CELL_CHARS = 32_767
# What a spreadsheet treats as the start of a formula (OWASP "CSV injection"), tab and carriage return included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number or phone number (+49 30 1234, -12.5) carries no formula, so it keeps its sign: an E.164 number in a
# dialer's list stays dialable.
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .]*$")
TAG_SEPARATOR = "; "
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_text(text: str) -> str:
    """``text`` as a cell that no spreadsheet runs as a formula: a leading ' when it starts like one."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _utc_text(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell_text(value: Any) -> str:
    """A value as CSV text: ISO 8601 UTC date-times, true/false, tags joined with '; ', text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _utc_text(value)
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, list):
        return safe_text(TAG_SEPARATOR.join(str(v) for v in value))
    return safe_text(str(value))


async def csv_chunks(
    rows: AsyncIterator[dict[str, Any]], columns: Sequence[Column], *, chunk_bytes: int = CSV_CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """UTF-8 CSV (with a byte-order mark, so spreadsheets read it as UTF-8): a heading, then a line per row, yielded
    in chunks of about ``chunk_bytes``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([safe_text(c.label) for c in columns])
    async for row in rows:
        writer.writerow([cell_text(row.get(c.name)) for c in columns])
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


async def write_csv(rows: AsyncIterator[dict[str, Any]], columns: Sequence[Column], out: BinaryIO) -> int:
    """Write the rows as CSV to ``out``; returns the bytes written."""
    written = 0
    async for chunk in csv_chunks(rows, columns):
        out.write(chunk)
        written += len(chunk)
    return written


class _Sheets:
    """Sheets of a workbook filled a row at a time, a new sheet (with the heading again) when one is full."""

    def __init__(self, workbook: Any, columns: Sequence[Column]) -> None:
        self.workbook, self.columns = workbook, columns
        self.heading = workbook.add_format({"bold": True})
        self.when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.sheet: Any = None
        self.row = XLSX_MAX_ROWS
        self.count = 0

    def _next_sheet(self) -> None:
        self.count += 1
        self.sheet = self.workbook.add_worksheet(f"Report {self.count}" if self.count > 1 else "Report")
        for i, column in enumerate(self.columns):
            heading = column.label + (" (UTC)" if column.type == "datetime" else "")
            self.sheet.write_string(0, i, safe_text(heading), self.heading)
        self.sheet.freeze_panes(1, 0)
        self.row = 1

    def add(self, row: dict[str, Any]) -> None:
        if self.row >= XLSX_MAX_ROWS:
            self._next_sheet()
        for i, column in enumerate(self.columns):
            self._cell(self.row, i, row.get(column.name))
        self.row += 1

    def _cell(self, r: int, c: int, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            self.sheet.write_boolean(r, c, value)
        elif isinstance(value, datetime):
            # Excel has no time zones: the UTC wall time, headed "(UTC)".
            self.sheet.write_datetime(r, c, value.astimezone(timezone.utc).replace(tzinfo=None), self.when)
        elif isinstance(value, (int, float, Decimal)) and abs(value) < 1e15:
            self.sheet.write_number(r, c, float(value))
        else:
            text = TAG_SEPARATOR.join(map(str, value)) if isinstance(value, list) else str(value)
            # write_string, never write(): a string is never turned into a formula by the writer either.
            self.sheet.write_string(r, c, safe_text(text)[:XLSX_MAX_CELL_CHARS])


async def write_xlsx(rows: AsyncIterator[dict[str, Any]], columns: Sequence[Column], out: BinaryIO) -> int:
    """Write the rows as an XLSX workbook to ``out`` (a seekable binary file); returns the rows written.

    constant_memory: xlsxwriter keeps one row in memory and the rest in its temporary files, so memory stays flat;
    the final zip is built in a thread so the service keeps answering meanwhile."""
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    sheets = _Sheets(workbook, columns)
    written = 0
    try:
        sheets._next_sheet()
        async for row in rows:
            sheets.add(row)
            written += 1
    finally:
        await asyncio.to_thread(workbook.close)
    return written


def content_disposition(name: str, extension: str) -> str:
    """An attachment header for a report named ``name``: an ASCII file name every browser takes, and the full name
    in UTF-8 (RFC 6266 / 5987); no quotes, slashes, control characters or path tricks survive either."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_name).strip(" ._-")[:80] or "report"
    full = re.sub(r"[\x00-\x1f\x7f/\\\"]+", "_", name).strip(" .")[:120] or "report"
    return (
        f'attachment; filename="{ascii_name}.{extension}"; '
        f"filename*=UTF-8''{quote(full + '.' + extension, safe='')}"
    )
