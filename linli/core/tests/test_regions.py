"""Region codes: district → street/town → community/village → grid, each code extending its parent’s."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import assume, given
from hypothesis import strategies as st

from linli.core import services
from linli.core.models import Region
from linli.core.regions import PROVINCES, parent_code_of, validate_region_code

LEVELS = ["district", "street", "community", "grid"]


@pytest.fixture(autouse=True)
def _english():
    # Messages are checked in their English source form; translations are tested with the locale files.
    with translation.override("en"):
        yield


districts = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(sorted(PROVINCES)),
    st.from_regex(r"[0-9]{4}", fullmatch=True).filter(lambda rest: not rest.endswith("00")),
)
segments = st.integers(min_value=1, max_value=999).map(lambda n: f"{n:03d}")


@st.composite
def region_codes(draw, depth=None):
    """A well-formed code at a random level: a district and up to three non-zero segments."""
    depth = depth if depth is not None else st.integers(min_value=0, max_value=3)
    return draw(districts) + "".join(draw(segments) for _ in range(draw(depth)))


def check(code, level=None, parent=None):
    with pytest.raises(ValidationError) as caught:
        validate_region_code(code, level, parent)
    return caught.value


@given(region_codes())
def test_well_formed_codes_pass_with_their_parent(code):
    level = LEVELS[(len(code) - 6) // 3]
    assert validate_region_code(code, level, parent_code_of(code)) == level
    assert validate_region_code(code, None, parent_code_of(code)) == level


@given(region_codes(), st.integers(min_value=1, max_value=20))
def test_a_code_of_the_wrong_length_fails(code, cut):
    wrong = (code + "12")[: max(1, len(code) + 2 - cut)]
    if len(wrong) % 3 == 0 and len(wrong) >= 6:
        wrong += "7"
    error = check(wrong, None, parent_code_of(wrong))
    assert error.code == "length"
    assert "6, 9, 12 or 15" in error.messages[0]


@given(region_codes(), st.sampled_from(LEVELS))
def test_a_code_that_does_not_match_its_level_fails(code, level):
    assume(LEVELS[(len(code) - 6) // 3] != level)
    error = check(code, level, parent_code_of(code))
    assert error.code == "length"
    assert code in error.messages[0]


@given(region_codes(), st.integers(min_value=0, max_value=14), st.sampled_from(list("a -.Xx٣²")))
def test_anything_but_ascii_digits_fails(code, position, char):
    position %= len(code)
    wrong = code[:position] + char + code[position + 1 :]
    assert check(wrong, None, parent_code_of(wrong)).code == "digits"


@given(region_codes(st.integers(min_value=1, max_value=3)), st.data())
def test_a_code_must_extend_its_parent(code, data):
    parent = parent_code_of(code)
    other = data.draw(region_codes(st.just((len(parent) - 6) // 3)).filter(lambda p: p != parent))
    error = check(code, None, other)
    assert error.code == "prefix"
    assert other in error.messages[0]


@given(region_codes(st.integers(min_value=1, max_value=3)), st.data())
def test_a_000_segment_fails_at_any_depth(code, data):
    segment = data.draw(st.integers(min_value=0, max_value=(len(code) - 6) // 3 - 1))
    start = 6 + 3 * segment
    wrong = code[:start] + "000" + code[start + 3 :]
    assert check(wrong, None, parent_code_of(wrong)).code == "segment"


@given(st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_districts_are_county_codes_of_a_real_province(code):
    valid = code[:2] in PROVINCES and not code.endswith("00")
    if valid:
        assert validate_region_code(code) == "district"
    else:
        assert check(code).code == "district"


def test_examples_people_type():
    assert validate_region_code("370102") == "district"  # 济南市历下区
    assert validate_region_code("370102001", "street", "370102") == "street"
    assert check("370100").code == "district"  # a city, not a county
    assert check("990102").code == "district"  # no province 99
    assert check("370102001", "street", None).code == "parent"  # a street needs its district
    assert check("370102", "district", "370101").code == "parent"  # a district has none
    assert check("").code == "digits"


# --- create_region --------------------------------------------------------------------------------


def test_create_region_builds_the_tree_from_codes(db):
    district = services.create_region("370102", "历下区")
    street = services.create_region("370102001", "解放路街道")
    grid_parent = services.create_region("370102001001", "某社区")
    grid = services.create_region("370102001001001", "第一网格", centre=(117.05, 36.67))
    levels = (district.level, street.level, grid_parent.level, grid.level)
    assert levels == ("district", "street", "community", "grid")
    assert grid.parent == grid_parent and grid_parent.parent == street and street.parent == district
    assert [r.code for r in grid.path] == ["370102", "370102001", "370102001001", "370102001001001"]


def test_create_region_refuses_a_duplicate(regions):
    with pytest.raises(ValidationError) as caught:
        services.create_region("370198001", "又一个东街道")
    assert caught.value.message_dict["code"] == ["Region code “370198001” already exists."]
    assert Region.objects.get(code="370198001").name == "东街道"


def test_create_region_refuses_a_missing_parent(regions):
    with pytest.raises(ValidationError) as caught:
        services.create_region("370198003001", "孤儿社区")
    message = "Parent region “370198003” of “370198003001” does not exist."
    assert caught.value.message_dict["code"] == [message]
    assert not Region.objects.filter(code="370198003001").exists()


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("3701980010", "it must have 6, 9, 12 or 15"),
        ("37019800A", "digits only"),
        ("370198000", "may be 000"),
        ("370100", "GB/T 2260"),
    ],
)
def test_create_region_explains_a_malformed_code(regions, code, fragment):
    with pytest.raises(ValidationError) as caught:
        services.create_region(code, "错误")
    assert fragment in " ".join(caught.value.messages)
    assert not Region.objects.filter(code=code).exists()


def test_create_region_wants_a_name_and_a_centre_in_china(regions):
    with pytest.raises(ValidationError) as caught:
        services.create_region("370198002002", "")
    assert "name" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.create_region("370198002002", "北极社区", centre=(10.0, 80.0))
    assert "outside China" in caught.value.message_dict["centre_lon"][0]


def test_a_region_under_the_wrong_parent_is_refused_by_the_model(regions):
    region = Region(code="370198001003", name="错挂社区", parent=regions["370198002"])
    with pytest.raises(ValidationError) as caught:
        region.full_clean()
    assert "must extend its parent’s code “370198002”" in caught.value.message_dict["code"][0]
