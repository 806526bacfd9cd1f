"""Excel workbooks of the register: the templates' columns, reading an upload safely, writing sheets.

The column headers are the file format, so they are fixed Chinese words (what district staff type and read);
the explanations on each template's notes sheet are translated text. ``read_workbook`` checks everything about
a file before a single row is looked at (size, signature, that openpyxl can open it, headers, row count) and
raises ``WorkbookError`` with a sentence a person can act on. ``imports.py`` validates the rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.reader.excel import ExcelReader
from openpyxl.reader.strings import SHEET_MAIN_NS
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.constants import SHARED_STRINGS
from openpyxl.xml.functions import iterparse

from .models import House, ImportJob, Organisation, Person, Residency, Tag

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_SIGNATURE = b"PK\x03\x04"
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls (and .doc) format
ERROR_HEADER = "错误说明"  # the column the error sheet adds; ignored when that sheet is imported again
TEXT = "@"  # Excel's Text format: long digit strings stay text instead of losing digits as numbers
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
ERROR_FILL = PatternFill("solid", fgColor="F8CBAD")


def max_bytes() -> int:
    return int(getattr(settings, "LINLI_IMPORT_MAX_BYTES", 20 * 1024 * 1024))


def max_rows() -> int:
    return int(getattr(settings, "LINLI_IMPORT_MAX_ROWS", 200_000))


# --- Choices as people write them -----------------------------------------------------------------------

RESIDENCE_TYPES = {
    "户籍": Person.ResidenceType.REGISTERED,
    "户籍人口": Person.ResidenceType.REGISTERED,
    "流动": Person.ResidenceType.FLOATING,
    "流动人口": Person.ResidenceType.FLOATING,
    "人户分离": Person.ResidenceType.SEPARATED,
    "境外": Person.ResidenceType.FOREIGN,
    "境外人员": Person.ResidenceType.FOREIGN,
}
RELATIONS = {
    "业主": Residency.Relation.OWNER,
    "户主": Residency.Relation.OWNER,
    "家庭成员": Residency.Relation.FAMILY,
    "租户": Residency.Relation.TENANT,
    "租客": Residency.Relation.TENANT,
    "其他": Residency.Relation.OTHER,
}
HOUSE_USES = {
    "自住": House.Use.SELF_OCCUPIED,
    "出租": House.Use.RENTED,
    "空置": House.Use.VACANT,
    "商用": House.Use.COMMERCIAL,
    "经营": House.Use.COMMERCIAL,
}
ORGANISATION_KINDS = {
    "企业": Organisation.Kind.ENTERPRISE,
    "商铺": Organisation.Kind.SHOP,
    "个体工商户": Organisation.Kind.SHOP,
    "社会组织": Organisation.Kind.SOCIAL,
    "党组织": Organisation.Kind.PARTY,
    "物业公司": Organisation.Kind.PROPERTY,
    "事业单位": Organisation.Kind.PUBLIC,
    "村集体经济组织": Organisation.Kind.COLLECTIVE,
}
TAGS = {
    "独居老人": Tag.ELDERLY_ALONE,
    "高龄": Tag.AGED_80,
    "高龄老人": Tag.AGED_80,
    "残疾人": Tag.DISABLED,
    "退役军人": Tag.VETERAN,
    "低保": Tag.DIBAO,
    "特困": Tag.TEKUN,
    "党员": Tag.PARTY_MEMBER,
    "未成年人": Tag.MINOR,
    "需关爱人员": Tag.NEEDS_CARE,
}


def first_label(choices: dict[str, str], value: str) -> str:
    """The first Chinese word that stands for ``value`` (what exports and templates write)."""
    return next((word for word, code in choices.items() if code == value), value)


def choice(choices: dict[str, str], text: str) -> str | None:
    """The stored value for a Chinese word or the stored value itself; None when neither."""
    if text in choices:
        return choices[text]
    return text if text in set(choices.values()) else None


# --- Columns ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    note: object  # a lazy translation
    required: bool = False
    example: object = ""
    width: int = 12
    text: bool = True


def _words(choices: dict[str, str]) -> str:
    return "、".join(dict.fromkeys(choices))


REGION = Column(
    "region",
    "区域代码",
    gettext_lazy(
        "Code of the grid or community (12 or 15 digits) the row belongs to; empty means the region chosen "
        "when importing. It must lie inside your scope."
    ),
    example="",
    width=18,
)
ESTATE = Column(
    "estate",
    "小区/村组",
    gettext_lazy("Estate or village group, as it is written on site."),
    example="青园小区",
)
BUILDING = Column("building", "楼栋", gettext_lazy("Building name or number."), True, "3号楼")
UNIT = Column("unit", "单元", gettext_lazy("Unit; leave empty when the building has none."), example="2单元")
ROOM = Column("room", "房号", gettext_lazy("Room number."), True, "501")

HOUSE_COLUMNS: tuple[Column, ...] = (
    REGION,
    ESTATE,
    BUILDING,
    UNIT,
    ROOM,
    Column("area", "面积", gettext_lazy("Floor area in square metres, a number."), example=88.5, text=False),
    Column(
        "use",
        "用途",
        gettext_lazy("How the house is used: %(words)s. Empty means self-occupied."),
        example="自住",
    ),
    Column(
        "address",
        "楼栋地址",
        gettext_lazy("Street address of the building; empty means estate and building name."),
        example="文化东路1号",
        width=24,
    ),
)
PEOPLE_COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", gettext_lazy("Full name."), True, "张三"),
    Column(
        "id_number",
        "公民身份号码",
        gettext_lazy(
            "18-digit ID number (or 15-digit first-generation number), entered as text. Each number may "
            "appear once in a file; a number already registered updates that person."
        ),
        True,
        "370103199001011238",
        width=22,
    ),
    Column("phone", "手机号码", gettext_lazy("Mainland mobile number, 11 digits."), example="13800138000"),
    Column("ethnicity", "民族", gettext_lazy("Ethnic group; empty means Han (汉族)."), example="汉族"),
    Column(
        "residence_type",
        "人员类型",
        gettext_lazy("Residence type: %(words)s. Empty means registered resident."),
        example="户籍",
    ),
    REGION,
    ESTATE,
    Column("building", "楼栋", BUILDING.note, example="3号楼"),
    UNIT,
    Column(
        "room",
        "房号",
        gettext_lazy(
            "Room number. Estate, building, unit and room name a house already registered (import houses "
            "first); leave all four empty for a person without a house."
        ),
        example="501",
    ),
    Column(
        "relation",
        "与房屋关系",
        gettext_lazy("Relation to the house: %(words)s. Needed when a house is given."),
        example="业主",
    ),
    Column(
        "start",
        "入住日期",
        gettext_lazy("Date of moving in, such as 2020-01-31; may be empty."),
        example="2020-01-01",
    ),
    Column(
        "tags",
        "人员标签",
        gettext_lazy(
            "Special groups, separated by 、 or commas: %(words)s. Kept on the basis of statutory duty; "
            "groups that need the person's separate consent are recorded on the person's page, not imported."
        ),
        example="",
        width=18,
    ),
    Column("contact_name", "紧急联系人", gettext_lazy("Emergency contact's name."), example=""),
    Column("contact_phone", "紧急联系人电话", gettext_lazy("Emergency contact's mobile number."), example=""),
)
ORGANISATION_COLUMNS: tuple[Column, ...] = (
    Column("name", "名称", gettext_lazy("Registered name."), True, "济南青园物业服务有限公司", width=28),
    Column(
        "credit_code",
        "统一社会信用代码",
        gettext_lazy("18-character unified social credit code; a code already registered updates it."),
        True,
        "91370103MA3C4K9X29",
        width=22,
    ),
    Column("kind", "类型", gettext_lazy("Kind: %(words)s."), True, "物业公司"),
    REGION,
    Column("address", "地址", gettext_lazy("Address."), example="青园小区3号楼底商", width=24),
    Column("contact_name", "联系人", gettext_lazy("Contact person."), example="李四"),
    Column("contact_phone", "联系电话", gettext_lazy("Contact's mobile number."), example="13900139000"),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    ImportJob.Kind.HOUSES: HOUSE_COLUMNS,
    ImportJob.Kind.PEOPLE: PEOPLE_COLUMNS,
    ImportJob.Kind.ORGANISATIONS: ORGANISATION_COLUMNS,
}
CHOICE_WORDS = {
    "use": HOUSE_USES,
    "residence_type": RESIDENCE_TYPES,
    "relation": RELATIONS,
    "tags": TAGS,
    "kind": ORGANISATION_KINDS,
}
SHEET_TITLES = {
    ImportJob.Kind.HOUSES: "房屋",
    ImportJob.Kind.PEOPLE: "人员",
    ImportJob.Kind.ORGANISATIONS: "组织",
}


def column_note(column: Column) -> str:
    words = CHOICE_WORDS.get(column.key)
    text = str(column.note)
    return text % {"words": _words(words)} if words and "%(words)s" in text else text


# --- Templates and sheets --------------------------------------------------------------------------------


def template_workbook(kind: str) -> bytes:
    """The empty template of ``kind``: the data sheet with headers and one example row, and a notes sheet."""
    columns = COLUMNS[kind]
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLES[kind]
    sheet.append([c.header for c in columns])
    sheet.append([c.example for c in columns])
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        head = sheet.cell(row=1, column=index)
        head.font = Font(bold=True, color="C00000" if column.required else "000000")
        head.fill = HEADER_FILL
        sheet.column_dimensions[letter].width = column.width
        if column.text:
            # Format the whole column as text, so that ID numbers typed later keep all their digits.
            sheet.column_dimensions[letter].number_format = TEXT
            for row in range(2, 1002):
                sheet.cell(row=row, column=index).number_format = TEXT
    sheet.freeze_panes = "A2"
    notes = book.create_sheet("填写说明")
    notes.append([_("Column"), _("Header"), _("Required"), _("What to enter")])
    for cell in notes[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for index, column in enumerate(columns, start=1):
        notes.append(
            [
                get_column_letter(index),
                column.header,
                _("yes") if column.required else "",
                column_note(column),
            ]
        )
    notes.append([])
    for line in (
        _("Fill in the first sheet from row 2 on; replace or delete the example row. Keep the header row."),
        _("A file is imported whole or not at all unless “keep valid rows” is chosen."),
        _("Importing the same file again changes nothing."),
        _("At most %(rows)s rows and %(mb)s MB per file.")
        % {"rows": f"{max_rows():,}", "mb": max_bytes() // (1024 * 1024)},
    ):
        notes.append(["", "", "", line])
    notes.column_dimensions["B"].width = 16
    notes.column_dimensions["D"].width = 100
    for row in notes.iter_rows(min_row=2):
        row[3].alignment = Alignment(wrap_text=True, vertical="top")
    return save(book)


def save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_sheet(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A one-sheet workbook written in openpyxl's streaming mode (exports of 100,000 rows stay small)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append(list(row))
    return save(book)


def error_workbook(
    headers: Sequence[str], rows: Iterable[tuple[Sequence[object], list[str], set[int]]]
) -> bytes:
    """The uploaded rows with an error column; each row is (cells, messages, indexes of bad cells)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("错误")
    sheet.append([*headers, ERROR_HEADER])
    for cells, messages, bad in rows:
        if not messages:
            sheet.append([*cells, None])
            continue
        out = []
        for index, value in enumerate(cells):
            cell = WriteOnlyCell(sheet, value=value)
            if index in bad:
                cell.fill = ERROR_FILL
            out.append(cell)
        note = WriteOnlyCell(sheet, value="；".join(messages))
        note.font = Font(color="C00000")
        out.append(note)
        sheet.append(out)
    return save(book)


# --- Reading an upload -----------------------------------------------------------------------------------


class WorkbookError(Exception):
    """The file as a whole cannot be imported; the message says why and what to do."""


@dataclass
class Sheet:
    """An opened upload: its header row, the position of each known column, and the data rows."""

    headers: list[str]
    positions: dict[str, int]  # column key → 0-based position in the row
    rows: Iterator[tuple[int, tuple]] = field(repr=False)  # (Excel row number, cell values)
    book: object = field(default=None, repr=False)

    def close(self) -> None:
        if self.book is not None:
            self.book.close()


def check_signature(data: bytes) -> None:
    """Refuse what is not an .xlsx workbook before openpyxl sees it."""
    if not data:
        raise WorkbookError(_("The file is empty. Fill in the template and upload it again."))
    if len(data) > max_bytes():
        raise WorkbookError(
            _("The file is %(size)s MB; at most %(limit)s MB can be imported at once. Split it into parts.")
            % {"size": f"{len(data) / 1048576:.1f}", "limit": f"{max_bytes() / 1048576:g}"}
        )
    if data.startswith(OLE2_SIGNATURE):
        raise WorkbookError(
            _(
                "This is an old Excel 97–2003 file (.xls). Open it in Excel or WPS and save it as an Excel "
                "workbook (.xlsx), then upload that."
            )
        )
    if not data.startswith(ZIP_SIGNATURE):
        raise WorkbookError(
            _(
                "This is not an Excel workbook (.xlsx); text or CSV files cannot be imported. Download the "
                "template, fill it in and upload it."
            )
        )


def read_workbook(data: bytes, kind: str) -> Sheet:
    """Open an upload of ``kind`` and check its headers; raises WorkbookError for any problem with it."""
    check_signature(data)
    try:
        reader = _Reader(io.BytesIO(data), read_only=True, data_only=True)  # what load_workbook does
        reader.read()
        book = reader.wb
        sheet = book.worksheets[0]
        rows = _values(sheet)
        header_row = next(rows, None)
    except WorkbookError:
        raise
    except Exception:
        # openpyxl raises many kinds of errors for damaged or foreign zip files (InvalidFileException,
        # KeyError for a missing part, BadZipFile, XML errors); all mean the same to the person uploading.
        raise WorkbookError(
            _(
                "The file could not be read as an Excel workbook (.xlsx); it may be damaged or another kind "
                "of file. Save it again from Excel or WPS as .xlsx, or start from the template."
            )
        ) from None
    columns = COLUMNS[kind]
    headers = [_cell_text(value) for value in (header_row or ())]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        book.close()
        raise WorkbookError(_("The first sheet is empty: it has no header row. Start from the template."))
    by_header = {column.header: column for column in columns}
    positions: dict[str, int] = {}
    unknown = []
    for index, header in enumerate(headers):
        column = by_header.get(header)
        if column is None:
            if header and header != ERROR_HEADER:
                unknown.append(f"{get_column_letter(index + 1)}「{header}」")
            continue
        if column.key in positions:
            book.close()
            raise WorkbookError(
                _("The column 「%(header)s」 appears twice in the header row; keep one.") % {"header": header}
            )
        positions[column.key] = index
    missing = [c.header for c in columns if c.required and c.key not in positions]
    if missing or unknown:
        book.close()
        parts = []
        if missing:
            parts.append(_("missing columns: %(headers)s") % {"headers": "、".join(missing)})
        if unknown:
            parts.append(_("unknown columns: %(headers)s") % {"headers": "、".join(unknown)})
        raise WorkbookError(
            _(
                "The header row does not match the %(kind)s template (%(problems)s). Use the headers of "
                "the template exactly as they are."
            )
            % {"kind": ImportJob.Kind(kind).label, "problems": "; ".join(parts)}
        )
    return Sheet(headers=headers, positions=positions, rows=_data_rows(rows, len(headers)), book=book)


# openpyxl reads the workbook (its parts, styles, date formats, dimension); these two functions replace its
# per-string and per-cell objects with plain values for the two big parts, the shared strings and the sheet.
# They give what openpyxl gives (``Text.content`` of each string; ``iter_rows(values_only=True)`` of a
# read-only sheet opened with ``data_only=True``), about three times faster; the tests compare them.
_SI, _T, _R = (f"{{{SHEET_MAIN_NS}}}{tag}" for tag in ("si", "t", "r"))
_ROW, _C, _V, _IS = (f"{{{SHEET_MAIN_NS}}}{tag}" for tag in ("row", "c", "v", "is"))
_DIMENSION, _DATA = (f"{{{SHEET_MAIN_NS}}}{tag}" for tag in ("dimension", "sheetData"))


class _Reader(ExcelReader):
    def read_worksheets(self):
        """openpyxl's read-only branch of ``read_worksheets``, with ``_ReadOnlySheet``."""
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            worksheet = _ReadOnlySheet(self.wb, sheet.name, rel.target, self.shared_strings)
            worksheet.sheet_state = sheet.state
            self.wb._sheets.append(worksheet)

    def read_strings(self):
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            with self.archive.open(part.PartName[1:]) as source:
                self.shared_strings = shared_strings(source)


class _ReadOnlySheet(ReadOnlyWorksheet):
    def _get_size(self):
        """The sheet's <dimension>, which comes before <sheetData>: stop at <sheetData> when there is none.

        openpyxl stops at the end of <sheetData>, reading the whole sheet for files without a dimension (as
        streaming writers write them); the result is the same.
        """
        with self._get_source() as source:
            for _event, element in iterparse(source, events=("start",)):
                if element.tag == _DIMENSION:
                    dimensions = SheetDimension.from_tree(element).boundaries
                    if dimensions is not None:
                        self._min_column, self._min_row, self._max_column, self._max_row = dimensions
                    return
                if element.tag == _DATA:
                    return


def shared_strings(source) -> list[str]:
    """The plain text of each shared string (openpyxl's ``read_string_table``, without its objects)."""
    strings = []
    for _event, node in iterparse(source):
        if node.tag == _SI:
            strings.append(_text(node).replace("x005F_", ""))
            node.clear()
    return strings


def _text(node) -> str:
    """``Text.from_tree(node).content``: the plain text and the text of each rich-text run."""
    plain, runs = None, []
    for child in node:
        if child.tag == _T:
            plain = child.text
        elif child.tag == _R:
            text = child.findtext(_T)
            if text is not None:
                runs.append(text)
    return "".join([plain, *runs] if plain is not None else runs)


def _number(text: str):
    return float(text) if "." in text or "E" in text or "e" in text else int(text)


def _values(sheet) -> Iterator[tuple]:
    """``sheet.iter_rows(values_only=True)`` of a read-only, data-only sheet: one tuple per row from row 1."""
    book = sheet.parent
    strings, epoch = sheet._shared_strings, book.epoch
    dates, durations = book._date_formats, book._timedelta_formats
    max_col, max_row = sheet.max_column, sheet.max_row
    empty = (None,) * max_col if max_col else ()
    expected = 1
    number = 0
    columns: dict[str, int] = {}  # column letters → index, as coordinate_to_tuple gives, looked up once
    with sheet._get_source() as source:
        for _event, element in iterparse(source):
            if element.tag != _ROW:
                continue
            r = element.get("r")
            number = int(float(r)) if r else number + 1
            if max_row is not None and number > max_row:
                break
            cells = {}
            column = 0
            for cell in element:
                kind = cell.get("t", "n")
                ref = cell.get("r")
                if ref:
                    letters = ref.rstrip("0123456789")
                    column = columns.get(letters) or columns.setdefault(letters, column_index(letters))
                else:
                    column += 1
                value = None
                if kind == "inlineStr":
                    inline = cell.find(_IS)
                    if inline is not None:
                        value = _text(inline)
                else:
                    text = cell.findtext(_V) or None
                    if text is None:
                        pass
                    elif kind == "n":
                        value = _number(text)
                        style = int(cell.get("s") or 0)
                        if style in dates:
                            try:
                                value = from_excel(value, epoch, timedelta=style in durations)
                            except (OverflowError, ValueError):
                                value = "#VALUE!"
                    elif kind == "s":
                        value = strings[int(text)]
                    elif kind == "b":
                        value = bool(int(text))
                    elif kind == "d":
                        value = from_ISO8601(text)
                    else:  # "str" (a formula's text) and "e" (an error such as #N/A)
                        value = text
                cells[column] = value
            element.clear()
            for _ in range(expected, number):
                yield empty
            expected = number + 1
            width = max_col or (column if cells else 0)
            if not width:
                yield ()
                continue
            yield tuple(cells.get(index) for index in range(1, width + 1))
    if max_row is not None:
        for _ in range(expected, max_row + 1):
            yield empty


def _data_rows(rows: Iterator[tuple], width: int) -> Iterator[tuple[int, tuple]]:
    """(row number, cells) of the non-empty rows after the header, at most max_rows() of them."""
    limit = max_rows()
    count = 0
    for number, values in enumerate(rows, start=2):
        cells = tuple(values[:width]) + (None,) * (width - len(values))
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in cells):
            continue
        count += 1
        if count > limit:
            raise WorkbookError(
                _("The file has more than %(limit)s rows; split it into files of at most %(limit)s rows.")
                % {"limit": f"{limit:,}"}
            )
        yield number, cells


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


cell_text = _cell_text


def column_letter(position: int) -> str:
    return get_column_letter(position + 1)
