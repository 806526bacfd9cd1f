"""Identifier validators: the worked examples of reference/standards.md §3.1–3.5, and property tests.

Expected check characters are computed here with the reference's literal weight tables, not with the module's
own functions, so a wrong algorithm in the module fails these tests.
"""

import string
from datetime import UTC, date, datetime

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.functional import Promise
from hypothesis import assume, given
from hypothesis import strategies as st

from linli.core import clock
from linli.core.identifiers import (
    CREDIT_CODE_ALPHABET,
    Energy,
    PlateKind,
    ResidentIdKind,
    Sex,
    parse_credit_code,
    parse_mobile,
    parse_plate,
    parse_resident_id,
    validate_credit_code,
    validate_mobile,
    validate_plate,
    validate_resident_id,
)
from linli.core.regions import PROVINCES

TODAY = date(2025, 6, 30)


@pytest.fixture(autouse=True)
def _english():
    # Messages are checked in their English source form; translations are tested with the locale files.
    with translation.override("en"):
        yield


def rejected(parse, value, **kwargs):
    with pytest.raises(ValidationError) as caught:
        parse(value, **kwargs)
    return caught.value


# --- independent check-character computations, from the reference's tables --------------------------------

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_check(first17):
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc_check(first17):
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_check(first8):
    total = sum(int(c, 36) * w for c, w in zip(first8, [3, 7, 9, 10, 5, 8, 4, 2], strict=True))
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


def test_the_reference_weight_tables_are_what_the_standards_define():
    # Guards the test's own tables: GB 11643 uses 2^(17-i) mod 11, GB 32100 uses 3^i mod 31.
    assert ID_WEIGHTS == [2 ** (17 - i) % 11 for i in range(17)]
    assert USCC_WEIGHTS == [3**i % 31 for i in range(17)]
    assert CREDIT_CODE_ALPHABET == USCC_ALPHABET


# --- 3.1 resident ID numbers ------------------------------------------------------------------------------


def test_standard_example_with_x_check_character_is_a_woman_born_1949():
    result = parse_resident_id("11010519491231002X", today=TODAY)
    assert result.number == "11010519491231002X"
    assert result.birth_date == date(1949, 12, 31)
    assert result.sex == Sex.FEMALE
    assert result.area_code == "110105"
    assert result.kind == ResidentIdKind.CITIZEN
    assert result.warnings == ()
    assert result.age_on(date(2025, 12, 30)) == 75
    assert result.age_on(date(2025, 12, 31)) == 76


def test_lower_case_x_spaces_and_full_width_digits_are_normalised():
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"
    assert parse_resident_id("370103 19900101 1238", today=TODAY).number == "370103199001011238"
    assert (
        parse_resident_id("３７０１０３１９９００１０１１２３８", today=TODAY).number == "370103199001011238"
    )


def test_jinan_example_passes_and_its_wrong_check_digit_is_named():
    result = parse_resident_id("370103199001011238", today=TODAY)
    assert (result.birth_date, result.sex) == (date(1990, 1, 1), Sex.MALE)
    error = rejected(parse_resident_id, "370103199001011234", today=TODAY)
    assert error.code == "check"
    assert error.messages == [
        "The check character of ID number 370103199001011234 should be 8, not 4. Usually another digit is "
        "mistyped: compare the whole number with the ID card."
    ]


def test_first_generation_number_is_converted_to_18_digits():
    result = parse_resident_id("370103900101123", today=TODAY)
    assert result.number == "370103199001011238"
    assert result.converted_from_15
    assert result.birth_date == date(1990, 1, 1)
    assert result.sex == Sex.MALE


def test_old_shandong_number_whose_county_code_is_newer_than_the_holder_passes():
    # python-stdnum rejects this: 370103 dates from 1983 and the holder was born in 1949 (reference §3.1).
    result = parse_resident_id("370103194901011230", today=TODAY)
    assert result.birth_date == date(1949, 1, 1)
    assert result.warnings == ()
    assert parse_resident_id("370103198401011232", today=TODAY).warnings == ()


def test_abolished_county_code_is_accepted_and_only_warned_about_when_a_table_lacks_it():
    laicheng = "37120219800101123"  # 莱城区, abolished 2019, still on valid IDs
    number = laicheng + id_check(laicheng)
    assert parse_resident_id(number, today=TODAY).warnings == ()
    with_table = parse_resident_id(number, today=TODAY, area_codes={"370103", "371202"})
    assert with_table.warnings == ()
    current_only = parse_resident_id(number, today=TODAY, area_codes={"370103", "370116"})
    assert [w.code for w in current_only.warnings] == ["area_code"]
    assert "371202" in str(current_only.warnings[0])


@pytest.mark.parametrize(
    ("area", "kind"),
    [
        ("810000", ResidentIdKind.RESIDENCE_PERMIT),
        ("820000", ResidentIdKind.RESIDENCE_PERMIT),
        ("830000", ResidentIdKind.RESIDENCE_PERMIT),
        ("937156", ResidentIdKind.FOREIGN_PERMANENT_RESIDENT),
    ],
)
def test_residence_permits_and_foreign_permanent_resident_cards_pass(area, kind):
    first17 = area + "19850615002"
    result = parse_resident_id(first17 + id_check(first17), today=TODAY)
    assert result.kind == kind
    assert result.warnings == ()


def test_unknown_province_prefix_is_a_warning_not_a_rejection():
    first17 = "20010319900101123"
    result = parse_resident_id(first17 + id_check(first17), today=TODAY)
    assert [w.code for w in result.warnings] == ["area_code"]
    assert str(result.warnings[0]).startswith(f"ID number {first17}")
    assert "20, which is not a province code" in str(result.warnings[0])


@pytest.mark.parametrize(
    ("birth", "code", "fragment"),
    [
        ("19900230", "birth_date", "The birth date 19900230 in ID number"),
        ("19901301", "birth_date", "is not a real date"),
        ("18991231", "birth_date_too_early", "is before 1900"),
        ("20250701", "birth_date_future", "The birth date 2025-07-01 in ID number"),
    ],
)
def test_impossible_birth_dates_are_rejected_with_the_date_named(birth, code, fragment):
    first17 = "370103" + birth + "123"
    error = rejected(parse_resident_id, first17 + id_check(first17), today=TODAY)
    assert error.code == code
    assert fragment in error.messages[0]


def test_birth_today_passes_and_the_default_today_comes_from_the_clock(monkeypatch):
    first17 = "370103" + "20250630" + "123"
    number = first17 + id_check(first17)
    assert parse_resident_id(number, today=TODAY).birth_date == TODAY
    # 2025-06-29 17:00 UTC is already 2025-06-30 01:00 in Shanghai.
    monkeypatch.setattr(clock, "now", lambda: datetime(2025, 6, 29, 17, 0, tzinfo=UTC))
    assert parse_resident_id(number).birth_date == TODAY
    monkeypatch.setattr(clock, "now", lambda: datetime(2025, 6, 29, 15, 0, tzinfo=UTC))
    assert rejected(parse_resident_id, number).code == "birth_date_future"


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("", "empty", "ID number is empty"),
        (None, "empty", "ID number is empty"),
        ("3701031990010112", "length", "has 16 characters; it must have 18 (or 15"),
        ("37010319900101123X8", "length", "has 19 characters"),
        ("3701031990X1011238", "characters", "character 11 is “X”"),
        ("370103-19900101-1238", "characters", "character 7 is “-”"),
        ("37010390010112X", "characters", "character 15 is “X”"),
        (3.70103199001011e17, "number", "was stored as a number and has lost digits"),
    ],
)
def test_malformed_id_numbers_are_rejected_saying_what_is_wrong(value, code, fragment):
    error = rejected(parse_resident_id, value, today=TODAY)
    assert error.code == code
    assert fragment in error.messages[0]


def test_an_integer_cell_is_read_as_its_digits():
    assert parse_resident_id(370103199001011238, today=TODAY).number == "370103199001011238"


area_codes = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(sorted(PROVINCES)),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")


@st.composite
def resident_ids(draw, birth=birth_dates):
    first17 = draw(area_codes) + draw(birth).strftime("%Y%m%d") + draw(sequences)
    return first17 + id_check(first17)


@given(resident_ids())
def test_generated_valid_id_numbers_pass_with_their_derived_fields(number):
    result = parse_resident_id(number, today=TODAY)
    assert result.number == number
    assert result.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert result.sex == (Sex.MALE if int(number[16]) in (1, 3, 5, 7, 9) else Sex.FEMALE)
    assert result.area_code == number[:6]


@given(resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_changing_any_one_character_of_an_id_number_fails(number, position, replacement):
    assume(replacement != number[position])
    assume(position == 17 or replacement != "X")
    changed = number[:position] + replacement + number[position + 1 :]
    error = rejected(parse_resident_id, changed, today=TODAY)
    assert error.code in {"check", "birth_date", "birth_date_too_early", "birth_date_future"}


@given(resident_ids(), st.integers(min_value=0, max_value=15))
def test_swapping_two_adjacent_different_digits_fails(number, position):
    assume(number[position] != number[position + 1])
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    rejected(parse_resident_id, swapped, today=TODAY)


@given(resident_ids(birth=st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31))))
def test_first_generation_numbers_convert_back_to_the_18_digit_number(number):
    old = number[:6] + number[8:17]
    result = parse_resident_id(old, today=TODAY)
    assert result.number == number
    assert result.converted_from_15
    assert (result.birth_date, result.sex) == (
        parse_resident_id(number, today=TODAY).birth_date,
        parse_resident_id(number, today=TODAY).sex,
    )


# --- 3.2 unified social credit codes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the textbook example
        "91110000600037341L",  # python-stdnum's doctest
        "113701037059525546",  # a Jinan 市中区 public body
        "N2370103123456788U",  # village collective economic organisation, rejected by python-stdnum
    ],
)
def test_reference_credit_codes_pass_without_warnings(code):
    result = parse_credit_code(code)
    assert result.code == code
    assert result.warnings == ()


def test_credit_code_parts_are_exposed():
    result = parse_credit_code("N2370103123456788U")
    assert result.registration_authority == "N"
    assert result.institution_type == "2"
    assert result.division_code == "370103"
    assert result.organisation_code == "123456788"


def test_credit_code_is_upper_cased_and_stripped_of_spaces():
    assert parse_credit_code(" 9135 0100 m000 100y 43").code == "91350100M000100Y43"


def test_textbook_check_characters_agree_with_the_reference_arithmetic():
    assert uscc_check("91350100M000100Y4") == "3"  # S = 1640, 1640 mod 31 = 28, 31 − 28 = 3
    assert org_check("M000100Y") == "4"  # S = 139, 139 mod 11 = 7, 11 − 7 = 4


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("91350100M000100Y44", "check", "should be 3, not 4"),
        ("91350100M000100Y4", "length", "has 17 characters; it must have 18"),
        ("9135O100M000100Y43", "characters", "the letter O at position 5, which credit codes never use"),
        ("91350100M000I00Y43", "characters", "it is probably 1"),
        ("91350100M00010SY43", "characters", "the letter S at position 15"),
        ("91350100M000100Y4*", "characters", "character 18 is “*”"),
        ("91A50100M000100Y43", "division_code", "must be digits; they are “A50100”"),
        ("", "empty", "Unified social credit code is empty"),
    ],
)
def test_malformed_credit_codes_are_rejected_saying_what_is_wrong(value, code, fragment):
    error = rejected(parse_credit_code, value)
    assert error.code == code
    assert fragment in error.messages[0]


def test_embedded_organisation_code_failing_gb_11714_is_only_a_warning():
    first17 = "91370103" + "12345678" + "0"  # GB 11714 would want 8 as the ninth character
    result = parse_credit_code(first17 + uscc_check(first17))
    assert [w.code for w in result.warnings] == ["organisation_code"]
    assert "would be 8" in str(result.warnings[0])


def test_division_code_outside_any_province_is_a_warning():
    first17 = "91990000" + "M000100Y4"
    result = parse_credit_code(first17 + uscc_check(first17))
    assert [w.code for w in result.warnings] == ["division_code"]
    central = "91100000" + "M000100Y4"  # 10: authorities of the central state
    assert parse_credit_code(central + uscc_check(central)).warnings == ()


uscc_chars = st.sampled_from(USCC_ALPHABET)


@st.composite
def credit_codes(draw):
    head = draw(uscc_chars) + draw(uscc_chars) + draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    organisation = "".join(draw(st.lists(uscc_chars, min_size=8, max_size=8)))
    first17 = head + organisation + org_check(organisation)
    # An organisation check of X or a digit is always in the credit-code alphabet.
    return first17 + uscc_check(first17)


@given(credit_codes())
def test_generated_valid_credit_codes_pass(code):
    result = parse_credit_code(code)
    assert result.code == code
    assert [w.code for w in result.warnings] in ([], ["division_code"])


@given(credit_codes(), st.integers(min_value=0, max_value=17), uscc_chars)
def test_changing_any_one_character_of_a_credit_code_fails(code, position, replacement):
    assume(replacement != code[position])
    changed = code[:position] + replacement + code[position + 1 :]
    error = rejected(parse_credit_code, changed)
    assert error.code in {"check", "division_code"}


# --- 3.4 mobile numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "8613800138000",
        "(+86) 138 0013 8000",
        "138-0013-8000",
        "１３８００１３８０００",
        13800138000,
        13800138000.0,
    ],
)
def test_mobile_numbers_in_every_accepted_form_normalise_to_11_digits(value):
    result = parse_mobile(value)
    assert result.number == "13800138000"
    assert result.e164 == "+8613800138000"


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("12800138000", "prefix", "starts with 12; mainland mobile numbers start with 13 to 19"),
        ("23800138000", "prefix", "starts with 23"),
        ("02800138000", "landline", "starts with 0, as a landline number does"),
        ("1380013800", "length", "has 10 digits; a mainland mobile number has 11"),
        ("+86 1380013800", "length", "has 10 digits"),
        ("0531-8612345", "landline", "put a landline in the telephone field"),
        ("0531-86123456", "length", "has 12 digits"),
        ("138001380ab", "characters", "may contain only digits"),
        ("", "empty", "Mobile number is empty"),
    ],
)
def test_malformed_mobile_numbers_are_rejected_saying_what_is_wrong(value, code, fragment):
    error = rejected(parse_mobile, value)
    assert error.code == code
    assert fragment in error.messages[0]


mobile_numbers = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(
    mobile_numbers,
    st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "(+86)"]),
    st.lists(st.sampled_from([" ", "-"]), min_size=10, max_size=10),
    st.lists(st.booleans(), min_size=10, max_size=10),
)
def test_generated_mobile_numbers_normalise_whatever_the_prefix_and_separators(number, prefix, seps, use):
    typed = prefix + "".join(
        d + (s if u else "") for d, s, u in zip(number, seps + [""], use + [False], strict=True)
    )
    assert parse_mobile(typed).number == number


# --- 3.5 licence plates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "plate", "kind", "energy"),
    [
        ("鲁A·12345", "鲁A12345", PlateKind.ORDINARY, None),
        ("鲁a 8b2c7", "鲁A8B2C7", PlateKind.ORDINARY, None),
        ("京N-A1234", "京NA1234", PlateKind.ORDINARY, None),
        ("鲁A·1234挂", "鲁A1234挂", PlateKind.TRAILER, None),
        ("鲁A·1234学", "鲁A1234学", PlateKind.DRIVING_SCHOOL, None),
        ("鲁A·0001警", "鲁A0001警", PlateKind.POLICE, None),
        ("粤Z·1234港", "粤Z1234港", PlateKind.HONG_KONG, None),
        ("粤Z·1234澳", "粤Z1234澳", PlateKind.MACAO, None),
        ("鲁A·D12345", "鲁AD12345", PlateKind.NEW_ENERGY_SMALL, Energy.PURE_ELECTRIC),
        ("鲁A·DF1234", "鲁ADF1234", PlateKind.NEW_ENERGY_SMALL, Energy.PURE_ELECTRIC),
        ("鲁B·F12345", "鲁BF12345", PlateKind.NEW_ENERGY_SMALL, Energy.NOT_PURE_ELECTRIC),
        ("鲁B·A12345", "鲁BA12345", PlateKind.NEW_ENERGY_SMALL, Energy.PURE_ELECTRIC),
        ("鲁B·K12345", "鲁BK12345", PlateKind.NEW_ENERGY_SMALL, Energy.NOT_PURE_ELECTRIC),
        ("鲁Q·12345F", "鲁Q12345F", PlateKind.NEW_ENERGY_LARGE, Energy.NOT_PURE_ELECTRIC),
        ("鲁Q·12345D", "鲁Q12345D", PlateKind.NEW_ENERGY_LARGE, Energy.PURE_ELECTRIC),
    ],
)
def test_plates_of_each_kind_pass_normalised(typed, plate, kind, energy):
    result = parse_plate(typed)
    assert (result.plate, result.kind, result.energy) == (plate, kind, energy)
    assert result.display == plate[:2] + "·" + plate[2:]
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("使123456", PlateKind.EMBASSY),
        ("沪A1234领", PlateKind.CONSULATE),
        ("鲁A1234应急", PlateKind.EMERGENCY),
    ],
)
def test_embassy_consulate_and_emergency_plates_pass_flagged_for_review(typed, kind):
    result = parse_plate(typed)
    assert result.kind == kind
    assert result.needs_review
    assert "without a check of its format" in str(result.warnings[0])


def test_unrecognised_plates_fail_by_default_and_pass_for_review_where_allowed():
    assert rejected(parse_plate, "临A12345").code == "province"
    result = parse_plate("WJ鲁12345", allow_unrecognised=True)
    assert (result.kind, result.needs_review, result.plate) == (PlateKind.OTHER, True, "WJ鲁12345")
    assert rejected(parse_plate, "鲁A#1234", allow_unrecognised=True).code == "characters"


@pytest.mark.parametrize(
    ("typed", "code", "fragment"),
    [
        ("AA12345", "province", "must start with a province abbreviation such as 鲁 or 京, not “A”"),
        ("鲁I12345", "authority", "issuing authority’s letter (A to Z, never I or O), not “I”"),
        ("鲁112345", "authority", "not “1”"),
        ("鲁AO1234", "characters", "the letter O at position 3; plates never use I or O"),
        ("鲁A1234I", "characters", "probably the digit 1"),
        ("鲁A12#45", "characters", "has “#” at position 5"),
        ("鲁A1警234", "characters", "“警” may only be the last character"),
        ("鲁A1234", "length", "has 4 characters after the province and the letter"),
        ("鲁A1234567", "length", "has 7 characters"),
        ("鲁", "length", "too short"),
        ("鲁AX12345", "new_energy", "as a new-energy plate does, but not in its form"),
        ("鲁A123456", "new_energy", "five digits followed by one of those letters"),
        ("鲁AD1234A", "new_energy", "ends in four digits"),
        ("", "empty", "Licence plate is empty"),
    ],
)
def test_malformed_plates_are_rejected_naming_the_problem(typed, code, fragment):
    error = rejected(parse_plate, typed)
    assert error.code == code
    assert fragment in error.messages[0]


PLATE_LETTERS = [c for c in string.ascii_uppercase if c not in "IO"]
serial_chars = st.sampled_from(PLATE_LETTERS + list(string.digits))
provinces = st.sampled_from("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
letters = st.sampled_from(PLATE_LETTERS)
digits = st.text(alphabet=string.digits, min_size=1, max_size=1)


def typed_forms(plate):
    return [plate, plate[:2] + "·" + plate[2:], (plate[:2] + " " + plate[2:]).lower()]


@given(provinces, letters, st.lists(serial_chars, min_size=5, max_size=5))
def test_generated_ordinary_plates_pass(province, authority, serial):
    plate = province + authority + "".join(serial)
    for typed in typed_forms(plate):
        result = parse_plate(typed)
        assert (result.plate, result.kind, result.serial) == (plate, PlateKind.ORDINARY, "".join(serial))


@given(
    provinces,
    letters,
    st.sampled_from("DABCEFGHJK"),
    serial_chars,
    st.from_regex(r"[0-9]{4}", fullmatch=True),
    st.from_regex(r"[0-9]{5}", fullmatch=True),
)
def test_generated_new_energy_plates_pass_with_their_energy(province, authority, energy, second, four, five):
    expected = Energy.PURE_ELECTRIC if energy in "DABCE" else Energy.NOT_PURE_ELECTRIC
    small = province + authority + energy + second + four
    large = province + authority + five + energy
    for typed in typed_forms(small):
        assert (parse_plate(typed).kind, parse_plate(typed).energy) == (PlateKind.NEW_ENERGY_SMALL, expected)
    for typed in typed_forms(large):
        assert (parse_plate(typed).kind, parse_plate(typed).energy) == (PlateKind.NEW_ENERGY_LARGE, expected)


@given(
    provinces,
    letters,
    st.lists(serial_chars, min_size=5, max_size=5),
    st.integers(0, 4),
    st.sampled_from("IO"),
)
def test_an_i_or_o_anywhere_in_the_serial_fails(province, authority, serial, position, letter):
    serial[position] = letter
    error = rejected(parse_plate, province + authority + "".join(serial))
    assert error.code == "characters"
    assert f"the letter {letter} at position {position + 3}" in error.messages[0]


# --- Django validators ------------------------------------------------------------------------------------


class RegistryForm(forms.Form):
    id_number = forms.CharField(validators=[validate_resident_id])
    credit_code = forms.CharField(validators=[validate_credit_code])
    mobile = forms.CharField(validators=[validate_mobile])
    plate = forms.CharField(validators=[validate_plate])


def test_validators_plug_into_django_form_fields():
    good = RegistryForm(
        {
            "id_number": "11010519491231002X",
            "credit_code": "N2370103123456788U",
            "mobile": "+86 138-0013-8000",
            "plate": "鲁A·D12345",
        }
    )
    assert good.is_valid(), good.errors
    bad = RegistryForm(
        {
            "id_number": "370103199001011234",
            "credit_code": "91350100M000100Y44",
            "mobile": "128",
            "plate": "AA1",
        }
    )
    assert not bad.is_valid()
    assert set(bad.errors) == {"id_number", "credit_code", "mobile", "plate"}
    assert "should be 8, not 4" in bad.errors["id_number"][0]


def test_messages_are_lazy_msgids_with_parameters():
    # The translation is looked up when the message is shown, in the language active then.
    error = rejected(parse_mobile, "12800138000")
    assert isinstance(error.message, Promise)
    assert error.params == {"value": "12800138000", "start": "12"}
    warning = parse_credit_code("91990000M000100Y4" + uscc_check("91990000M000100Y4")).warnings[0]
    assert isinstance(warning.message, Promise)
