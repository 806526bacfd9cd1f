"""The working calendar: holidays, make-up days, working periods, due times, pause and resume, admin edits."""

import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.core import clock, workcalendar
from linli.core.audit import AuditAction, AuditLog
from linli.core.workcalendar import (
    CalendarDay,
    DaySource,
    TimeUnit,
    WorkingPeriod,
    add_time,
    add_working_seconds,
    is_working_day,
    working_periods,
    working_seconds_between,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
DAY = 7.5 * HOUR  # a working day's working time with the default periods

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    """A Beijing-time moment, written the way a case officer reads it: "2025-09-26 15:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# --- The calendar as seeded -------------------------------------------------------------------------------


def test_a_fresh_database_has_the_packages_years_and_the_default_periods():
    assert working_periods() == [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))]
    assert workcalendar.working_day_seconds() == 27_000
    years = workcalendar.years_in_database()
    assert years[0] == 2004 and years[-1] == workcalendar.package_years()[-1]
    national_day = CalendarDay.objects.get(date=date(2025, 10, 1))
    assert (national_day.kind, national_day.name, national_day.source) == ("holiday", "国庆节", "seeded")
    assert CalendarDay.objects.get(date=date(2025, 10, 6)).name == "中秋节"
    make_up = CalendarDay.objects.get(date=date(2025, 9, 28))
    assert (make_up.kind, make_up.name) == ("workday", "国庆节调休")


def test_2025_agrees_with_the_package_day_by_day():
    day = date(2025, 1, 1)
    while day.year == 2025:
        assert is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_weekends_holidays_and_make_up_days():
    assert is_working_day(date(2025, 9, 26))  # Friday
    assert not is_working_day(date(2025, 9, 27))  # Saturday
    assert is_working_day(date(2025, 9, 28))  # Sunday worked for National Day (调休)
    assert not any(is_working_day(date(2025, 10, d)) for d in range(1, 9))  # 国庆节 + 中秋节
    assert is_working_day(date(2025, 10, 11))  # Saturday worked
    assert not is_working_day(date(2025, 10, 12))


# --- Due times --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, amount, unit, due",
    [
        # Across a weekend
        ("2025-09-19 15:00", 1, "working_day", "2025-09-22 15:00"),
        ("2025-09-19 16:00", 4, "working_hour", "2025-09-22 11:00"),
        ("2025-09-19 15:00", 5, "working_day", "2025-09-26 15:00"),
        # Onto the make-up working day (Sunday 28 September 2025)
        ("2025-09-26 15:00", 1, "working_day", "2025-09-28 15:00"),
        ("2025-09-26 17:00", 1, "working_hour", "2025-09-28 09:00"),
        # Across the National Day and Mid-Autumn holiday, 1–8 October 2025
        ("2025-09-30 15:00", 1, "working_day", "2025-10-09 15:00"),
        ("2025-09-30 17:00", 2, "working_hour", "2025-10-09 10:00"),
        ("2025-10-03 10:00", 1, "working_hour", "2025-10-09 09:30"),  # started on a holiday
        # Outside working time: counting begins at the next period
        ("2025-09-20 10:00", 2, "working_hour", "2025-09-22 10:30"),  # Saturday
        ("2025-09-22 07:00", 1, "working_hour", "2025-09-22 09:30"),  # before work
        ("2025-09-22 18:00", 1, "working_hour", "2025-09-23 09:30"),  # after work
        # At lunch, and across it
        ("2025-09-22 12:30", 1, "working_hour", "2025-09-22 14:30"),
        ("2025-09-22 11:30", 1, "working_hour", "2025-09-22 14:00"),
        # Exactly on period boundaries: a due time on a period's end is that end
        ("2025-09-22 08:30", 3.5, "working_hour", "2025-09-22 12:00"),
        ("2025-09-22 12:00", 0.5, "working_hour", "2025-09-22 14:00"),
        ("2025-09-22 13:30", 4, "working_hour", "2025-09-22 17:30"),
        ("2025-09-22 17:30", 1, "working_day", "2025-09-23 17:30"),
        ("2025-09-22 08:30", 1, "working_day", "2025-09-22 17:30"),
        ("2025-09-19 12:30", 1, "working_day", "2025-09-22 12:00"),  # 13:30–17:30 + 08:30–12:00
        ("2025-09-22 09:00", 0, "working_hour", "2025-09-22 09:00"),
        # Fractions and decimals
        ("2025-09-22 08:30", Decimal("0.5"), "working_day", "2025-09-22 13:45"),
        ("2025-09-22 09:00", "1.25", "working_hour", "2025-09-22 10:15"),
        # Long spans: 济源's 15 working days for 违法搭建, across the October holiday
        ("2025-09-22 10:00", 15, "working_day", "2025-10-17 10:00"),
        # Natural time ignores the calendar
        ("2025-09-30 15:00", 24, "natural_hour", "2025-10-01 15:00"),
        ("2025-09-30 15:00", 1.5, "natural_day", "2025-10-02 03:00"),
        ("2025-09-27 12:30", 0.25, "natural_hour", "2025-09-27 12:45"),
    ],
)
def test_due_times(start, amount, unit, due):
    amount = Decimal(amount) if isinstance(amount, str) else amount
    result = add_time(at(start), amount, unit)
    assert result == at(due), f"{start} + {amount} {unit}: {result:%Y-%m-%d %H:%M}, not {due}"
    assert result.utcoffset() == timedelta(hours=8)


def test_250_working_days_from_2_january_2025_is_the_working_day_count_of_the_package():
    # Independent check of the long-span count: the 251st working day after 1 January by the package itself.
    day, counted = date(2025, 1, 2), 0
    while counted < 250:
        day += timedelta(days=1)
        counted += chinese_calendar.is_workday(day)
    assert add_time(at("2025-01-02 09:00"), 250, TimeUnit.WORKING_DAY).date() == day


def test_utc_in_same_instant_out():
    start = datetime(2025, 9, 26, 7, 0, tzinfo=UTC)  # 15:00 in Beijing
    due = add_time(start, 1, TimeUnit.WORKING_DAY)
    assert due == datetime(2025, 9, 28, 7, 0, tzinfo=UTC)
    assert working_seconds_between(start, due) == DAY


def test_working_seconds_between():
    assert working_seconds_between(at("2025-09-22 09:00"), at("2025-09-22 10:00")) == HOUR
    assert working_seconds_between(at("2025-09-22 12:00"), at("2025-09-22 13:30")) == 0  # lunch
    assert working_seconds_between(at("2025-09-22 11:00"), at("2025-09-22 14:00")) == 1.5 * HOUR
    assert working_seconds_between(at("2025-09-19 17:00"), at("2025-09-22 09:00")) == HOUR  # weekend
    assert working_seconds_between(at("2025-09-30 17:30"), at("2025-10-09 08:30")) == 0  # the holiday
    assert working_seconds_between(at("2025-09-26 08:30"), at("2025-10-10 17:30")) == 6 * DAY
    assert working_seconds_between(at("2025-09-22 10:00"), at("2025-09-22 09:00")) == 0  # backwards
    assert working_seconds_between(at("2025-09-22 10:00"), at("2025-09-22 10:00")) == 0


def test_pause_and_resume_keeps_the_remaining_working_time():
    dispatched = at("2025-09-23 09:00")  # Tuesday
    due = add_time(dispatched, 3, TimeUnit.WORKING_DAY)
    assert due == at("2025-09-26 09:00")
    paused = at("2025-09-24 10:00")  # 挂账 on Wednesday
    remaining = working_seconds_between(paused, due)
    assert remaining == 14 * HOUR  # Wed 10:00–17:30 (6 h), Thursday (7.5 h), Fri 08:30–09:00
    resumed = at("2025-09-30 11:00")  # the day before National Day
    new_due = add_working_seconds(resumed, remaining)
    # Tue 11:00–17:30 (5 h), 1–8 October off, Thu 9 October (7.5 h), Fri 10 October 08:30–10:00
    assert new_due == at("2025-10-10 10:00")
    assert working_seconds_between(resumed, new_due) == remaining
    # The time spent paused does not count: handled on time if done before the new due time.
    elapsed = working_seconds_between(dispatched, paused) + working_seconds_between(resumed, new_due)
    assert elapsed == 3 * DAY


def test_a_clock_paused_outside_working_time_resumes_with_all_of_it():
    due = at("2025-09-22 10:00")
    remaining = working_seconds_between(at("2025-09-19 18:00"), due)  # paused Friday evening
    assert remaining == 1.5 * HOUR
    assert add_working_seconds(at("2025-09-23 12:15"), remaining) == at("2025-09-23 15:00")


@pytest.mark.parametrize(
    "arguments, error",
    [
        ((at("2025-09-22 09:00"), -1, "working_hour"), "≥ 0"),
        ((at("2025-09-22 09:00"), 1, "fortnight"), "Unknown time unit"),
        ((datetime(2025, 9, 22, 9), 1, "working_hour"), "aware"),
        ((datetime(2025, 9, 22, 9), 1, "natural_day"), "aware"),
        ((at("2025-09-22 09:00"), float("nan"), "working_day"), "finite"),
    ],
)
def test_refuses_what_would_be_a_silent_mistake(arguments, error):
    with pytest.raises(ValueError, match=error):
        add_time(*arguments)


def test_no_query_per_call_once_the_years_are_loaded(django_assert_num_queries):
    add_time(at("2024-12-30 09:00"), 300, TimeUnit.WORKING_DAY)  # loads 2024–2026
    with django_assert_num_queries(0):
        for day in range(1, 28):
            start = at(f"2025-02-{day:02d} 10:00")
            add_time(start, 15, TimeUnit.WORKING_DAY)
            working_seconds_between(start, at("2026-03-01 10:00"))
            is_working_day(start.date())


# --- Properties -------------------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=SHANGHAI)
)
whole_second_moments = moments.map(lambda moment: moment.replace(microsecond=0))
property_settings = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def reference_working_seconds(start: datetime, end: datetime) -> int:
    """Day by day, period by period: slow and plain, to check the fast arithmetic against."""
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if chinese_calendar.is_workday(day):
            for first, last in working_periods():
                low = max(start, datetime.combine(day, first, tzinfo=SHANGHAI))
                high = min(end, datetime.combine(day, last, tzinfo=SHANGHAI))
                if high > low:
                    total += high - low
        day += timedelta(days=1)
    return int(total.total_seconds())


@property_settings
@given(start=moments, seconds=st.integers(min_value=0, max_value=400 * 27_000))
def test_working_seconds_between_inverts_add_working_seconds(start, seconds):
    due = add_working_seconds(start, seconds)
    assert due >= start
    assert working_seconds_between(start, due) == seconds
    if seconds:
        # ``due`` is the earliest such moment: a second earlier the time has not all passed.
        assert working_seconds_between(start, due - timedelta(seconds=1)) < seconds


@property_settings
@given(start=moments, end=moments)
def test_add_working_seconds_of_the_elapsed_time_reaches_the_end(start, end):
    elapsed = working_seconds_between(start, end)
    reached = add_working_seconds(start, elapsed)
    assert working_seconds_between(start, reached) == elapsed
    assert reached <= max(start, end) + timedelta(seconds=1)
    # Between where it stops and the end no working time passes (up to the sub-second rounding).
    assert working_seconds_between(reached, end) <= 1


@property_settings
@given(start=whole_second_moments, end=whole_second_moments)
def test_working_seconds_between_matches_a_day_by_day_count(start, end):
    expected = reference_working_seconds(start, end) if end > start else 0
    assert working_seconds_between(start, end) == expected


@property_settings
@given(points=st.lists(whole_second_moments, min_size=3, max_size=3))
def test_working_time_adds_up_over_consecutive_spans(points):
    first, middle, last = sorted(points)
    assert working_seconds_between(first, last) == working_seconds_between(
        first, middle
    ) + working_seconds_between(middle, last)


@property_settings
@given(start=moments, pairs=st.integers(min_value=0, max_value=200))
def test_working_hours_and_days_agree(start, pairs):
    # 15 working hours are two working days of 7.5 hours, wherever they start.
    in_hours = add_time(start, 15 * pairs, TimeUnit.WORKING_HOUR)
    assert in_hours == add_time(start, 2 * pairs, TimeUnit.WORKING_DAY)


# --- Administrators' edits --------------------------------------------------------------------------------


@pytest.fixture
def admin_client(regions, user_factory):
    admin = user_factory("district_admin", "370198", username="calendar-admin")
    client = Client()
    client.force_login(admin)
    client.user = admin
    return client


def test_the_admin_lists_the_calendar_and_the_years_it_covers(admin_client, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))
    index = admin_client.get("/admin/").content.decode()
    assert "/admin/core/calendarday/" in index and "/admin/core/workingperiod/" in index
    assert "工作日历：节假日与调休上班日" in index and "工作时段" in index
    page = admin_client.get("/admin/core/calendarday/?date__year=2025").content.decode()
    last = workcalendar.package_years()[-1]
    assert f"2004–{last}" in page
    assert "国庆节" in page and "国庆节调休" in page
    assert "08:30–12:00, 13:30–17:30" in page
    assert "调休上班日" in page and "星期日" in page  # kind and weekday of 28 September, in Chinese
    if last < 2027:
        assert "2027" in page.split('id="calendar-coverage"')[1].split("</div>")[0]  # not entered yet


def test_an_administrator_enters_next_years_holiday_and_it_counts_at_once(admin_client):
    # 2027 is beyond the package: a Friday counts as a working day until the holiday is entered.
    friday = date(2027, 10, 1)
    assert friday.year not in workcalendar.package_years()
    assert is_working_day(friday)
    due_before = add_time(at("2027-09-30 15:00"), 1, TimeUnit.WORKING_DAY)
    assert due_before == at("2027-10-01 15:00")

    response = admin_client.post(
        "/admin/core/calendarday/add/", {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not is_working_day(friday)
    assert add_time(at("2027-09-30 15:00"), 1, TimeUnit.WORKING_DAY) == at("2027-10-04 15:00")

    row = CalendarDay.objects.get(date=friday)
    assert (row.source, row.updated_by) == (DaySource.ADMIN, admin_client.user)
    entry = AuditLog.objects.filter(action=AuditAction.CALENDAR_CHANGED).latest("seq")
    assert entry.actor == admin_client.user
    assert entry.detail == {
        "change": "added",
        "entry": {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"},
    }

    # A Saturday made a working day in exchange (调休)
    response = admin_client.post(
        "/admin/core/calendarday/add/", {"date": "2027-10-09", "kind": "workday", "name": "国庆节调休"}
    )
    assert response.status_code == 302
    assert is_working_day(date(2027, 10, 9))

    # Taken back: the Friday works again
    response = admin_client.post(f"/admin/core/calendarday/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert is_working_day(friday)
    deleted = AuditLog.objects.filter(action=AuditAction.CALENDAR_CHANGED).latest("seq")
    assert deleted.detail["change"] == "deleted" and deleted.detail["entry"]["date"] == "2027-10-01"


def test_a_make_up_day_on_a_weekday_is_refused(admin_client):
    response = admin_client.post(
        "/admin/core/calendarday/add/", {"date": "2027-10-08", "kind": "workday", "name": "调休"}
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not CalendarDay.objects.filter(date=date(2027, 10, 8)).exists()


def test_a_corrected_seeded_day_becomes_the_administrators_and_survives_reseeding(admin_client):
    row = CalendarDay.objects.get(date=date(2025, 9, 28))
    response = admin_client.post(
        f"/admin/core/calendarday/{row.pk}/change/",
        {"date": "2025-09-28", "kind": "holiday", "name": "区里另行安排"},
    )
    assert response.status_code == 302
    assert not is_working_day(date(2025, 9, 28))
    row.refresh_from_db()
    assert row.source == DaySource.ADMIN
    entry = AuditLog.objects.filter(action=AuditAction.CALENDAR_CHANGED).latest("seq")
    assert entry.detail["change"] == "changed"
    assert entry.detail["before"] == {"kind": "workday", "name": "国庆节调休"}

    call_command("seed_calendar", year=[2025], stdout=open("/dev/null", "w"))
    row.refresh_from_db()
    assert (row.kind, row.name) == ("holiday", "区里另行安排")
    assert not is_working_day(date(2025, 9, 28))


def test_changing_the_working_periods_takes_effect_at_once(admin_client):
    afternoon = WorkingPeriod.objects.get(start=time(13, 30))
    response = admin_client.post(
        f"/admin/core/workingperiod/{afternoon.pk}/change/", {"start": "14:00", "end": "18:00"}
    )
    assert response.status_code == 302
    assert working_periods() == [(time(8, 30), time(12, 0)), (time(14, 0), time(18, 0))]
    assert add_time(at("2025-09-22 11:00"), 2, TimeUnit.WORKING_HOUR) == at("2025-09-22 15:00")
    assert AuditLog.objects.filter(action=AuditAction.CALENDAR_CHANGED).latest("seq").detail["entry"] == {
        "start": "14:00",
        "end": "18:00",
    }


def test_overlapping_or_backwards_periods_are_refused(admin_client):
    for start, end in (("11:00", "14:00"), ("16:00", "15:00")):
        response = admin_client.post("/admin/core/workingperiod/add/", {"start": start, "end": end})
        assert response.status_code == 200, (start, end)
    assert WorkingPeriod.objects.count() == 2


def test_the_last_period_cannot_be_deleted(admin_client):
    morning, afternoon = WorkingPeriod.objects.order_by("start")
    assert (
        admin_client.post(f"/admin/core/workingperiod/{afternoon.pk}/delete/", {"post": "yes"}).status_code
        == 302
    )
    assert working_periods() == [(time(8, 30), time(12, 0))]
    assert add_time(at("2025-09-22 11:00"), 2, TimeUnit.WORKING_HOUR) == at("2025-09-23 09:30")
    assert (
        admin_client.post(f"/admin/core/workingperiod/{morning.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


@pytest.mark.parametrize("role, scope", [("street_officer", "370198001"), ("auditor", "370198")])
def test_only_district_administrators_edit_the_calendar(regions, user_factory, role, scope):
    client = Client()
    client.force_login(user_factory(role, scope))
    assert client.get("/admin/core/calendarday/").status_code == 302
    response = client.post("/admin/core/calendarday/add/", {"date": "2027-10-01", "kind": "holiday"})
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert not CalendarDay.objects.filter(date=date(2027, 10, 1)).exists()


def test_other_processes_see_an_edit_after_the_cache_time(settings):
    settings.LINLI_CALENDAR_CACHE_SECONDS = 0.5
    workcalendar.clear_cache()
    assert is_working_day(date(2027, 10, 1))
    # A bulk insert sends no signal: as if another process had made the change.
    CalendarDay.objects.bulk_create([CalendarDay(date=date(2027, 10, 1), kind="holiday", name="国庆节")])
    assert is_working_day(date(2027, 10, 1))  # still the cached year, within the cache time
    time_module.sleep(0.6)
    assert not is_working_day(date(2027, 10, 1))


# --- Seeding ----------------------------------------------------------------------------------------------


def test_seed_calendar_writes_a_year_and_says_how_many(capsys):
    CalendarDay.objects.filter(date__year=2025).delete()
    assert is_working_day(date(2025, 10, 1))
    call_command("seed_calendar", year=[2025])
    out = capsys.readouterr().out
    assert "chinese-calendar 1.11" in out
    assert "2025: 节假日 28 holidays, 调休上班 5 make-up days" in out
    assert not is_working_day(date(2025, 10, 1)) and is_working_day(date(2025, 9, 28))
    assert CalendarDay.objects.filter(date__year=2025).count() == 33
    seeded = AuditLog.objects.filter(action=AuditAction.CALENDAR_SEEDED).latest("seq")
    assert seeded.detail["years"] == [2025]


def test_seed_calendar_refreshes_seeded_rows_and_removes_what_the_package_no_longer_lists(capsys):
    CalendarDay.objects.filter(date=date(2025, 10, 1)).update(name="typo")
    CalendarDay.objects.create(date=date(2025, 11, 3), kind="holiday", name="stale", source=DaySource.SEEDED)
    call_command("seed_calendar", year=[2025])
    assert "removed 1" in capsys.readouterr().out
    assert CalendarDay.objects.get(date=date(2025, 10, 1)).name == "国庆节"
    assert not CalendarDay.objects.filter(date=date(2025, 11, 3)).exists()


def test_a_year_the_package_does_not_know_is_reported(capsys):
    year = workcalendar.package_years()[-1] + 1
    with pytest.raises(CommandError, match=f"{year} not covered"):
        call_command("seed_calendar", year=[year])
    err = capsys.readouterr().err
    assert f"{year}: chinese-calendar" in err and "手工录入" in err and "by hand in the admin" in err
    assert not CalendarDay.objects.filter(date__year=year).exists()
    # Until an administrator enters it, the year runs on weekdays alone.
    first_monday = next(date(year, 1, d) for d in range(1, 8) if date(year, 1, d).weekday() == 0)
    assert is_working_day(first_monday) and not is_working_day(first_monday - timedelta(days=1))


def test_a_known_and_an_unknown_year_together_seed_the_known_one(capsys):
    year = workcalendar.package_years()[-1] + 1
    call_command("seed_calendar", year=[2024, year])
    captured = capsys.readouterr()
    assert "2024: 节假日" in captured.out and f"{year}: chinese-calendar" in captured.err


def test_migrate_seeds_only_the_years_missing(capsys):
    CalendarDay.objects.filter(date__year=2024).delete()
    CalendarDay.objects.create(date=date(2025, 12, 31), kind="holiday", name="区里的安排")
    WorkingPeriod.objects.all().delete()
    assert workcalendar.seed_missing() == [2024]
    assert CalendarDay.objects.filter(date__year=2024).count() > 20
    assert CalendarDay.objects.get(date=date(2025, 12, 31)).name == "区里的安排"
    assert working_periods() == [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))]
    assert WorkingPeriod.objects.count() == 2


def test_with_no_periods_at_all_the_default_day_applies():
    WorkingPeriod.objects.all().delete()
    assert working_periods() == [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))]
