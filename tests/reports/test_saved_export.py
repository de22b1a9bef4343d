"""CSV and XLSX exports of report rows: values, formula escaping, file names, and an XLSX read back from its XML."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from callcenter.reports.export import content_disposition, csv_chunks, safe_text, write_csv, write_xlsx
from callcenter.reports.query import Column

COLUMNS = [Column("name", "Name", "text"), Column("amount", "Amount", "number"), Column("at", "Last call", "datetime"),
           Column("dnc", "Do not call", "bool"), Column("tags", "Tags", "tags"), Column("phone", "Phone", "text")]
ROWS = [
    {"id": 1, "name": "=HYPERLINK(\"http://x\")", "amount": Decimal("12.50"), "at": datetime(2026, 6, 1, 8, 30, tzinfo=timezone.utc),
     "dnc": True, "tags": ["vip", "newsletter"], "phone": "+4930111"},
    {"id": 2, "name": "-2+3", "amount": None, "at": None, "dnc": False, "tags": [], "phone": "@SUM(A1)"},
    {"id": 3, "name": "Zoë, \"the\" boss\nline 2", "amount": -4, "at": None, "dnc": False, "tags": [], "phone": None},
]


async def _stream(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


def test_formula_starts_are_escaped_but_numbers_keep_their_sign() -> None:
    assert [safe_text(t) for t in ("=1+1", "+A1", "-A1", "@x", "\tx", "\rx", "+49 30 111", "-12.5", "plain")] == [
        "'=1+1", "'+A1", "'-A1", "'@x", "'\tx", "'\rx", "+49 30 111", "-12.5", "plain"]


async def test_csv_rows_values_and_escaping() -> None:
    out = io.BytesIO()
    await write_csv(_stream(ROWS), COLUMNS, out)
    text = out.getvalue().decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text[1:])))
    assert lines == [
        ["Name", "Amount", "Last call", "Do not call", "Tags", "Phone"],
        ["'=HYPERLINK(\"http://x\")", "12.50", "2026-06-01T08:30:00Z", "true", "vip; newsletter", "+4930111"],
        ["'-2+3", "", "", "false", "", "'@SUM(A1)"],
        ["Zoë, \"the\" boss\nline 2", "-4", "", "false", "", ""],
    ]


async def test_csv_comes_in_chunks() -> None:
    many = [{"name": f"row {i}", "amount": i} for i in range(2000)]
    chunks = [c async for c in csv_chunks(_stream(many), COLUMNS[:2], chunk_bytes=1024)]
    assert len(chunks) > 10 and all(len(c) < 1024 + 200 for c in chunks)
    assert b"".join(chunks).decode("utf-8").count("\r\n") == 2001


def _xlsx_cells(data: bytes) -> list[list[str]]:
    """The first sheet's cells as text (shared or inline strings, numbers, booleans), read from the XML."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        shared = []
        if "xl/sharedStrings.xml" in z.namelist():
            root = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root.findall("m:si", ns)]
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    table = []
    for row in sheet.iter(f"{{{ns['m']}}}row"):
        cells = {}
        for cell in row.findall("m:c", ns):
            col = re.match(r"[A-Z]+", cell.get("r", "")).group(0)  # type: ignore[union-attr]
            kind, value = cell.get("t"), cell.find("m:v", ns)
            if kind == "s":
                cells[col] = shared[int(value.text)]  # type: ignore[union-attr]
            elif kind == "inlineStr":
                cells[col] = "".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t"))
            elif kind == "b":
                cells[col] = "TRUE" if value.text == "1" else "FALSE"  # type: ignore[union-attr]
            else:
                cells[col] = value.text if value is not None else ""  # type: ignore[union-attr]
            assert cell.find("m:f", ns) is None  # never a formula
        table.append([cells.get(c, "") for c in "ABCDEF"])
    return table


async def test_xlsx_rows_values_and_escaping() -> None:
    out = io.BytesIO()
    assert await write_xlsx(_stream(ROWS), COLUMNS, out) == 3
    table = _xlsx_cells(out.getvalue())
    assert table[0] == ["Name", "Amount", "Last call (UTC)", "Do not call", "Tags", "Phone"]
    # 2026-06-01 08:30 UTC as an Excel serial date: days since 1899-12-30.
    serial = (datetime(2026, 6, 1, 8, 30) - datetime(1899, 12, 30)).total_seconds() / 86400
    assert table[1][0] == "'=HYPERLINK(\"http://x\")" and float(table[1][1]) == 12.5
    assert abs(float(table[1][2]) - serial) < 1e-9
    assert table[1][3:] == ["TRUE", "vip; newsletter", "+4930111"]
    assert table[2] == ["'-2+3", "", "", "FALSE", "", "'@SUM(A1)"]
    assert table[3][:2] == ["Zoë, \"the\" boss\nline 2", "-4"]


def test_content_disposition_is_safe() -> None:
    header = content_disposition('../../etc/"passwd"\r\nX-Evil: 1 Zoë', "csv")
    assert "\r" not in header and "\n" not in header
    plain = re.search(r'filename="([^"]*)"', header).group(1)  # type: ignore[union-attr]
    assert plain == "etc_passwd_X-Evil_ 1 Zoe.csv"
    full = unquote(header.split("filename*=UTF-8''")[1])
    assert "/" not in full and '"' not in full and full.endswith("Zoë.csv")
    assert 'filename="report.xlsx"' in content_disposition("///", "xlsx")


def test_columns_of_a_definition_without_its_catalogue() -> None:
    """What others call before checking a definition: built-in labels, a custom field headed by its key as text."""
    from callcenter.reports.definition import parse_definition
    from callcenter.reports.query import columns_of

    definition = parse_definition({"entity": "leads", "columns": ["title", "custom.budget", "last_call_at"]})
    assert [(c.name, c.label, c.type) for c in columns_of(definition)] == [
        ("title", "Title", "text"), ("custom.budget", "budget", "text"), ("last_call_at", "Last call", "datetime")]
    assert [c.name for c in columns_of(parse_definition({"entity": "tasks"}))] == [
        "id", "title", "kind", "status", "due_at", "owner_name", "primary_phone"]
