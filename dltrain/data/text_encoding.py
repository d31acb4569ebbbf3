"""A user's text file (a CSV table, texts) as a string, whatever program wrote it: a byte-order mark decides the
encoding (Excel's "CSV UTF-8" and "Unicode Text" write one), else `data.encoding` (UTF-8 unless told); a file in
another encoding, or a workbook given for a CSV file, is a one-line error saying how to save it or read it."""

from __future__ import annotations

import codecs
from pathlib import Path

from dltrain.errors import UserError

BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# How the files of Excel (.xlsx: a zip archive; .xls: an OLE2 compound file) and OpenDocument (a zip) begin.
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def decoded_text(path: Path, encoding: str = "utf-8") -> str:
    data = path.read_bytes()
    if data.startswith(WORKBOOK_SIGNATURES):
        raise UserError(f"{path} is a spreadsheet workbook or an archive, not a text file",
                        "save it as CSV (in Excel: File > Save As > CSV UTF-8) and pass that file")
    chosen = next((codec for mark, codec in BYTE_ORDER_MARKS if data.startswith(mark)), encoding)
    try:
        return data.decode(chosen)
    except LookupError:
        raise UserError(f"data.encoding={encoding} is not an encoding Python knows",
                        "pass e.g. utf-8, cp1252, latin-1 or shift_jis") from None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UserError(f"{path} line {line} is not {chosen} text (byte 0x{data[error.start]:02x})",
                        "save the file as UTF-8, or pass the encoding it was written in: data.encoding=cp1252 "
                        "(Windows in Western Europe and the Americas), latin-1, shift_jis, ...") from None
