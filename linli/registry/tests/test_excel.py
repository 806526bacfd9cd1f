"""Excel collection: templates, all-or-nothing import with row errors, idempotent re-import, export."""

import io
import re
import zipfile

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook, load_workbook

from linli.core.audit import AuditLog
from linli.core.models import Region, Role
from linli.core.testing import make_user
from linli.registry import excel, exports, imports
from linli.registry.models import House, ImportJob, Organisation, Person, PersonTag, Residency
from linli.registry.testing import id_number

GRID = "370198001001001"
OTHER_GRID = "370198002001001"
COMMUNITY = "370198001001"
PLAIN_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")


def workbook(kind, rows, headers=None):
    book = Workbook()
    sheet = book.active
    sheet.append(headers or [c.header for c in excel.COLUMNS[kind]])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def house_row(room, **values):
    row = {"region": "", "estate": "青园小区", "building": "3号楼", "unit": "2单元", "room": room}
    row.update({"area": 80, "use": "自住", "address": ""}, **values)
    return [row[c.key] for c in excel.HOUSE_COLUMNS]


def person_row(serial, room="101", **values):
    row = {
        "name": "张三",
        "id_number": id_number(serial),
        "phone": f"139{serial:08d}",
        "ethnicity": "",
        "residence_type": "户籍",
        "region": "",
        "estate": "青园小区",
        "building": "3号楼",
        "unit": "2单元",
        "room": room,
        "relation": "业主",
        "start": "2020-01-01",
        "tags": "党员、低保",
        "contact_name": "",
        "contact_phone": "",
    }
    row.update(values)
    return [row[c.key] for c in excel.PEOPLE_COLUMNS]


@pytest.fixture
def worker(regions):
    return make_user(Role.COMMUNITY_WORKER, COMMUNITY)


@pytest.fixture
def grid(regions):
    return regions[GRID]


@pytest.fixture
def houses(worker, grid):
    data = workbook("houses", [house_row(str(room)) for room in range(101, 106)])
    result = imports.import_workbook(data, "houses", region=grid, user=worker)
    assert (result.created, result.errors, result.problem) == (5, [], "")


def run(data, kind, worker, grid, **options):
    return imports.import_workbook(data, kind, region=grid, user=worker, **options)


# --- Templates ---


@pytest.mark.parametrize("kind", ImportJob.Kind.values)
def test_template_has_chinese_headers_and_a_notes_sheet(kind):
    book = load_workbook(io.BytesIO(excel.template_workbook(kind)))
    data, notes = book.worksheets
    assert [cell.value for cell in data[1]] == [c.header for c in excel.COLUMNS[kind]]
    assert notes.title == "填写说明" and notes.max_row > len(excel.COLUMNS[kind])


def test_template_example_rows_import_cleanly(worker, grid):
    for kind in ("houses", "people", "organisations"):
        data = excel.template_workbook(kind)
        result = run(data, kind, worker, grid)
        assert not result.problem and not result.errors, (kind, result.errors)


# --- Import and re-import ---


def test_people_import_creates_people_residencies_and_tags(houses, worker, grid):
    data = workbook("people", [person_row(i, room=str(101 + i % 5)) for i in range(1, 11)])
    result = run(data, "people", worker, grid)
    assert (result.created, result.updated, result.unchanged, result.errors) == (10, 0, 0, [])
    assert Person.objects.count() == 10 and Residency.objects.count() == 10
    assert PersonTag.objects.count() == 20
    person = Person.objects.get(id_number__blind=id_number(1))
    assert person.phone == "13900000001" and person.region_code == GRID and person.ethnicity == "汉族"
    assert AuditLog.objects.filter(action="registry_import", detail__created=10).exists()


def test_reimporting_the_same_file_changes_nothing(houses, worker, grid):
    data = workbook("people", [person_row(i, room=str(101 + i % 5)) for i in range(1, 11)])
    run(data, "people", worker, grid)
    again = run(data, "people", worker, grid)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10)
    assert Person.objects.count() == 10 and Residency.objects.count() == 10
    houses_again = run(
        workbook("houses", [house_row(str(r)) for r in range(101, 106)]), "houses", worker, grid
    )
    assert (houses_again.created, houses_again.updated, houses_again.unchanged) == (0, 0, 5)


def test_a_changed_row_is_counted_as_updated(houses, worker, grid):
    run(workbook("people", [person_row(1), person_row(2)]), "people", worker, grid)
    result = run(
        workbook("people", [person_row(1, phone="13812345678"), person_row(2)]), "people", worker, grid
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    person = Person.objects.get(id_number__blind=id_number(1))
    assert person.phone == "13812345678"
    assert list(Person.objects.filter(phone__blind="13812345678")) == [person]


def test_organisations_upsert_by_credit_code(worker, grid):
    row = ["青园物业", "91370103MA3C4K9X29", "物业公司", "", "青园小区", "李四", "13900139000"]
    data = workbook("organisations", [row])
    assert run(data, "organisations", worker, grid).created == 1
    again = run(data, "organisations", worker, grid)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    changed = run(workbook("organisations", [[*row[:2], "企业", *row[3:]]]), "organisations", worker, grid)
    assert changed.updated == 1 and Organisation.objects.get().kind == Organisation.Kind.ENTERPRISE


# --- Bad files: a clear message, nothing written ---


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        ("姓名,公民身份号码\n张三,370103199001011238\n".encode(), "not an Excel"),
        (b"just some text\n", "not an Excel"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        (b"PK\x03\x04 damaged", "could not be read"),
    ],
    ids=["empty", "csv", "txt", "xls", "damaged-zip"],
)
def test_a_file_that_is_not_excel_is_refused(worker, grid, data, words, settings):
    settings.LANGUAGE_CODE = "en"
    from django.utils import translation

    with translation.override("en"):
        result = run(data, "people", worker, grid)
    assert words in result.problem and not result.written
    assert not Person.objects.exists()


def test_a_zip_that_is_not_a_workbook_is_refused(worker, grid):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    result = run(buffer.getvalue(), "people", worker, grid)
    assert result.problem and not Person.objects.exists()


def test_wrong_headers_are_named(worker, grid):
    data = workbook("people", [person_row(1)], headers=["名字", "身份证", "电话"])
    result = run(data, "people", worker, grid)
    assert "姓名" in result.problem and "A「名字」" in result.problem
    assert not Person.objects.exists()


def test_a_houses_file_uploaded_as_people_is_refused(worker, grid):
    result = run(workbook("houses", [house_row("101")]), "people", worker, grid)
    assert result.problem and not House.objects.exists()


def test_headers_without_rows_is_refused(worker, grid):
    result = run(workbook("people", []), "people", worker, grid)
    assert result.problem and not result.written


def test_an_oversize_file_is_refused(worker, grid, settings):
    data = workbook("people", [person_row(i) for i in range(1, 50)])
    settings.LINLI_IMPORT_MAX_BYTES = len(data) - 1
    result = run(data, "people", worker, grid)
    assert "MB" in result.problem and not Person.objects.exists()


def test_too_many_rows_is_refused(houses, worker, grid, settings):
    settings.LINLI_IMPORT_MAX_ROWS = 3
    result = run(workbook("people", [person_row(i) for i in range(1, 5)]), "people", worker, grid)
    assert "3" in result.problem and not Person.objects.exists()


def test_a_duplicate_id_in_the_file_writes_nothing(houses, worker, grid):
    data = workbook("people", [person_row(1), person_row(2), person_row(1, name="李四")])
    result = run(data, "people", worker, grid)
    assert not result.written and not Person.objects.exists()
    [error] = result.errors
    assert (error.row, error.letter, error.header) == (4, "B", "公民身份号码")
    assert "370***********" in error.message and "2" in error.message
    assert not PLAIN_ID.search(error.message)


def test_an_unknown_house_writes_nothing(houses, worker, grid):
    result = run(workbook("people", [person_row(1), person_row(2, room="999")]), "people", worker, grid)
    assert not result.written and not Person.objects.exists()
    [error] = result.errors
    assert (error.row, error.header) == (3, "房号") and "999" in error.message


# --- Row errors, the error sheet, keep-valid ---


def test_row_errors_name_row_column_and_reason_with_identifiers_masked(houses, worker, grid):
    bad_id = id_number(2)[:-1] + ("0" if id_number(2)[-1] != "0" else "1")
    rows = [person_row(1), person_row(2, id_number=bad_id, phone="12345", relation="朋友")]
    result = run(workbook("people", rows), "people", worker, grid)
    found = {(e.row, e.letter, e.header) for e in result.errors}
    assert {(3, "B", "公民身份号码"), (3, "C", "手机号码"), (3, "K", "与房屋关系")} <= found
    for error in result.errors:
        assert bad_id not in error.message and "12345" not in error.message
    assert not Person.objects.exists()
    sheet = load_workbook(io.BytesIO(result.error_sheet)).active
    header = [c.value for c in sheet[1]]
    assert header[-1] == excel.ERROR_HEADER
    assert sheet.cell(row=2, column=len(header)).value is None
    note = sheet.cell(row=3, column=len(header)).value
    assert note and bad_id not in note and "12345" not in note
    assert sheet.cell(row=3, column=2).value == bad_id  # the uploader's own row, to correct it


def test_the_error_sheet_can_be_imported_again_once_corrected(houses, worker, grid):
    result = run(workbook("people", [person_row(1), person_row(2, phone="12345")]), "people", worker, grid)
    book = load_workbook(io.BytesIO(result.error_sheet))
    book.active.cell(row=3, column=3).value = "13800138000"
    buffer = io.BytesIO()
    book.save(buffer)
    again = run(buffer.getvalue(), "people", worker, grid)
    assert (again.created, again.errors) == (2, [])


def test_keep_valid_writes_the_good_rows_only(houses, worker, grid):
    rows = [person_row(1), person_row(2, room="999"), person_row(3)]
    result = run(workbook("people", rows), "people", worker, grid, keep_valid=True)
    assert result.written and result.created == 2 and result.error_rows == 1
    assert Person.objects.count() == 2


# --- Scope ---


def test_rows_outside_the_scope_are_refused(houses, worker, grid):
    rows = [person_row(1), person_row(2, region=OTHER_GRID, estate="", building="", unit="", room="")]
    result = run(workbook("people", rows), "people", worker, grid)
    [error] = result.errors
    assert (error.row, error.header) == (3, "区域代码") and OTHER_GRID in error.message
    assert not Person.objects.exists()


def test_a_target_region_outside_the_scope_is_refused(worker, regions):
    result = imports.import_workbook(
        workbook("people", [person_row(1)]), "people", region=regions[OTHER_GRID], user=worker
    )
    assert result.problem and not Person.objects.exists()


def test_a_person_registered_elsewhere_is_not_overwritten(houses, worker, grid, regions):
    other = make_user(Role.COMMUNITY_WORKER, "370198002001", username="west")
    row = person_row(1, estate="", building="", unit="", room="", relation="", name="外人")
    run(workbook("people", [row]), "people", other, regions[OTHER_GRID])
    result = run(workbook("people", [person_row(1)]), "people", worker, grid)
    assert result.errors and "outside your scope" in result.errors[0].message or result.errors
    assert Person.objects.get().name == "外人"


def test_houses_of_other_regions_are_unknown(houses, worker, grid, regions):
    other = make_user(Role.COMMUNITY_WORKER, "370198002001", username="west")
    row = person_row(1)
    result = run(workbook("people", [row]), "people", other, regions[OTHER_GRID])
    assert result.errors and result.errors[0].header == "房号" and not Person.objects.exists()


# --- A crash mid-import leaves nothing written ---


def test_a_crash_while_writing_leaves_nothing(houses, worker, grid, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 100)
    original = imports.PeopleImporter.build_person
    calls = {"n": 0}

    def crash_on_500(self, values):
        calls["n"] += 1
        if calls["n"] == 500:
            raise RuntimeError("disk full")
        return original(self, values)

    monkeypatch.setattr(imports.PeopleImporter, "build_person", crash_on_500)
    data = workbook("people", [person_row(i, room=str(101 + i % 5)) for i in range(1, 1001)])
    with pytest.raises(RuntimeError):
        run(data, "people", worker, grid)
    assert calls["n"] == 500
    assert not Person.objects.exists() and not Residency.objects.exists() and not PersonTag.objects.exists()
    assert not AuditLog.objects.filter(action="registry_import", detail__kind="people").exists()


def test_a_crashed_job_is_marked_failed_and_writes_nothing(houses, worker, grid, monkeypatch):
    calls = {"n": 0}
    original = imports.PeopleImporter.clean_person

    def crash(self, data):
        calls["n"] += 1
        if calls["n"] == 500:
            raise RuntimeError("bug")
        return original(self, data)

    monkeypatch.setattr(imports.PeopleImporter, "clean_person", crash)
    job = ImportJob.objects.create(kind="people", region=grid, region_code=GRID, created_by=worker)
    data = workbook("people", [person_row(i, room=str(101 + i % 5)) for i in range(1, 1001)])
    job = imports.run_job(job.pk, data)
    assert job.status == ImportJob.Status.FAILED and job.message
    assert not Person.objects.exists()


# --- Jobs, pages, API, CLI ---


@pytest.fixture
def inline(settings, totp_off):
    settings.LINLI_IMPORT_IN_BACKGROUND = False


def upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=excel.XLSX_CONTENT_TYPE)


def test_upload_page_imports_and_shows_errors(client, houses, worker, inline):
    client.force_login(worker)
    assert client.get("/registry/import/").status_code == 200
    data = workbook("people", [person_row(1), person_row(2, phone="12345")])
    response = client.post(
        "/registry/import/", {"kind": "people", "region": GRID, "file": upload("people.xlsx", data)}
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.REJECTED and job.error_count == 1
    page = client.get(response.url).content.decode()
    assert "手机号码" in page and "12345" not in page and "*" in page
    assert client.get(response.url, HTTP_HX_REQUEST="true").status_code == 200
    sheet = client.get(f"/registry/import/{job.pk}/errors.xlsx")
    assert sheet.status_code == 200 and sheet["Content-Type"] == excel.XLSX_CONTENT_TYPE
    assert AuditLog.objects.filter(action="import_errors_downloaded").exists()


def test_the_error_sheet_is_not_stored_in_plaintext(houses, worker, grid, inline):
    job = ImportJob.objects.create(kind="people", region=grid, region_code=GRID, created_by=worker)
    imports.run_job(job.pk, workbook("people", [person_row(1), person_row(2, room="999")]))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT error_sheet, errors FROM registry_importjob")
        stored, errors = cursor.fetchone()
    assert stored.startswith("v1:") and not PLAIN_ID.search(str(errors))
    assert load_workbook(io.BytesIO(imports.error_sheet_bytes(ImportJob.objects.get()))).active.max_row == 3


def test_another_users_job_answers_404(client, houses, worker, grid, inline):
    job = ImportJob.objects.create(kind="people", region=grid, region_code=GRID, created_by=worker)
    other = make_user(Role.COMMUNITY_WORKER, COMMUNITY, username="colleague")
    client.force_login(other)
    assert client.get(f"/registry/import/{job.pk}/").status_code == 404


def test_template_download_page(client, worker, totp_off):
    client.force_login(worker)
    response = client.get("/registry/templates/people.xlsx")
    assert response.status_code == 200 and response.content.startswith(b"PK")


def test_api_upload_and_status(client, houses, worker, inline):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(worker)
    data = workbook("people", [person_row(1)])
    response = api.post(
        "/api/v1/registry-imports/",
        {"kind": "people", "region": GRID, "file": upload("p.xlsx", data)},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "succeeded" and response.json()["created"] == 1
    status = api.get(f"/api/v1/registry-imports/{response.json()['id']}/")
    assert status.status_code == 200 and status.json()["progress"]["phase"] == "finished"
    refused = api.post(
        "/api/v1/registry-imports/",
        {"kind": "people", "region": OTHER_GRID, "file": upload("p.xlsx", data)},
        format="multipart",
    )
    assert refused.status_code == 403


def test_cli_import_and_template(houses, grid, tmp_path, capsys):
    path = tmp_path / "people.xlsx"
    path.write_bytes(workbook("people", [person_row(1), person_row(2)]))
    call_command("registry_import", "people", str(path), "--region", GRID)
    assert Person.objects.count() == 2
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"a,b\n")
    with pytest.raises(CommandError):
        call_command("registry_import", "people", str(bad), "--region", GRID)
    call_command("registry_template", "houses", str(tmp_path / "t.xlsx"))
    assert (tmp_path / "t.xlsx").read_bytes().startswith(b"PK")


# --- Export ---


def test_export_is_masked_scoped_and_audited(houses, worker, grid, regions):
    run(workbook("people", [person_row(1), person_row(2)]), "people", worker, grid)
    other = make_user(Role.COMMUNITY_WORKER, "370198002001", username="west")
    run(
        workbook("people", [person_row(3, estate="", building="", unit="", room="", relation="")]),
        "people",
        other,
        regions[OTHER_GRID],
    )
    data = exports.export_workbook(worker, "people")
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 2
    text = " ".join(str(v) for row in rows for v in row)
    assert not PLAIN_ID.search(text) and "13900000001" not in text
    assert rows[0][0] == "张*" and rows[0][1].startswith("370***")
    entry = AuditLog.objects.get(action="export")
    assert entry.detail["rows"] == 2 and entry.detail["kind"] == "people"


def test_third_parties_get_the_public_mask_in_exports(houses, worker, grid, regions):
    run(workbook("people", [person_row(1)]), "people", worker, grid)
    manager = make_user(Role.PROPERTY_MANAGER, COMMUNITY, username="pm")
    rows = list(load_workbook(io.BytesIO(exports.export_workbook(manager, "people"))).active.values)
    assert rows[1][1] == "3****************" + id_number(1)[-1]


def test_export_page_and_api(client, houses, worker, grid, totp_off):
    run(workbook("houses", [house_row("201")]), "houses", worker, grid)
    client.force_login(worker)
    assert client.get("/registry/export/").status_code == 200
    response = client.get("/registry/export/?kind=houses")
    assert response.status_code == 200 and response.content.startswith(b"PK")
    assert client.get(f"/registry/export/?kind=people&region={OTHER_GRID}").status_code == 404
    api = client.get("/api/v1/registry-exports/organisations/")
    assert api.status_code == 200
    assert AuditLog.objects.filter(action="export").count() == 2


def test_region_codes_in_the_file_must_exist(houses, worker, grid):
    row = person_row(1, region="370198001001009", estate="", building="", unit="", room="", relation="")
    result = run(workbook("people", [row]), "people", worker, grid)
    assert result.errors and result.errors[0].header == "区域代码"


def test_house_import_rejects_bad_area_and_use(worker, grid):
    result = run(workbook("houses", [house_row("101", area="大", use="住")]), "houses", worker, grid)
    assert {e.header for e in result.errors} == {"面积", "用途"} and not House.objects.exists()


def test_region_fixture_sanity(regions):
    assert Region.objects.filter(code=GRID).exists()


# --- The fast paths: sheet reader and COPY writes ---


def test_the_fast_reader_gives_what_openpyxl_gives():
    from datetime import datetime

    from openpyxl.reader.strings import read_string_table

    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "数", "日期", "真假", "公式", None, "  空格  "])
    sheet.append(["张三", 1, datetime(2020, 1, 31), True, "=1+1", None, 2.5])
    sheet.append([])
    sheet["A5"] = "x005F_x"
    sheet["C5"] = 370103199001011238
    sheet["D6"] = "只有D列"
    sheet["A7"] = 44000
    sheet["A7"].number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<si><t>张三</t></si><si><t xml:space="preserve"> 空 格 </t></si><si><t/></si>'
        '<si><r><t>富</t></r><r><rPr><b/></rPr><t>文本</t></r><rPh sb="0" eb="1"><t>フ</t></rPh></si>'
        "<si><t>a_x005F_x000D_b</t></si></sst>"
    ).encode()
    assert excel.shared_strings(io.BytesIO(strings)) == read_string_table(io.BytesIO(strings))
    for source in (data, excel.template_workbook("people")):
        expected = load_workbook(io.BytesIO(source), read_only=True, data_only=True)
        reader = excel._Reader(io.BytesIO(source), read_only=True, data_only=True)
        reader.read()
        fast = list(excel._values(reader.wb.worksheets[0]))
        assert fast == list(expected.worksheets[0].iter_rows(values_only=True))
        assert len(fast) >= 2


def test_copied_people_decrypt_through_the_orm_and_are_found_by_blind_index(houses, worker, grid):
    from django.db import connection

    from linli.core.pii import crypto

    rows = [person_row(i, room=str(101 + i % 5), contact_phone=f"137{i:08d}") for i in range(1, 6)]
    result = run(workbook("people", rows), "people", worker, grid)
    assert (result.created, result.errors) == (5, [])
    for i in range(1, 6):
        person = Person.objects.get(id_number__blind=id_number(i))  # the blind index finds the person
        assert person.id_number == id_number(i) and person.phone == f"139{i:08d}"
        assert person.contact_phone == f"137{i:08d}"
        assert list(Person.objects.filter(phone__blind=f"139{i:08d}")) == [person]
        assert person.residencies.get().house.number == str(101 + i % 5)
        assert set(person.tags.values_list("tag", flat=True)) == {"party_member", "dibao"}
        # The stored index is the one the ORM computes; the stored ciphertext is bound to the field.
        index = Person._meta.get_field("id_number_index")
        assert person.id_number_index == index.compute(id_number(i))
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [person.pk])
            stored_id, stored_phone = cursor.fetchone()
        assert stored_id.startswith("v1:") and id_number(i) not in stored_id
        assert crypto.decrypt(stored_id, associated_data="registry_person.id_number") == id_number(i)
        assert crypto.decrypt(stored_phone, associated_data="registry_person.phone") == f"139{i:08d}"
    # New rows after the import get fresh keys from the same sequences.
    again = run(workbook("people", [*rows, person_row(6, room="101")]), "people", worker, grid)
    assert (again.created, again.updated, again.unchanged) == (1, 0, 5)
    assert Person.objects.count() == 6 and Residency.objects.count() == 6


def test_an_import_puts_the_garbage_collector_threshold_back(houses, worker, grid):
    import gc

    before = gc.get_threshold()
    run(workbook("people", [person_row(1)]), "people", worker, grid)
    run(b"not excel", "people", worker, grid)
    assert gc.get_threshold() == before


def test_no_plaintext_identifier_in_logs_or_error_reports_while_importing(houses, worker, grid, caplog):
    good = person_row(1)
    bad_phone = person_row(2, phone="12345")
    bad_id = person_row(3, id_number=id_number(3)[:-1] + ("0" if id_number(3)[-1] != "0" else "1"))
    secrets = {good[1], good[2], bad_phone[1], bad_id[1]}
    with caplog.at_level("DEBUG"):
        failed = run(workbook("people", [good, bad_phone, bad_id]), "people", worker, grid)
        run(workbook("people", [good]), "people", worker, grid)
    assert failed.errors and not Person.objects.filter(id_number__blind=bad_phone[1]).exists()
    shown = caplog.text + " ".join(str(error) for error in failed.errors)
    for secret in secrets:
        assert secret not in shown
