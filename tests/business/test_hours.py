"""Hours logic: open now at the edges, closures, late-night calls across timezones, DST days."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.business.hours import (
    candidate_slots,
    free_slots,
    is_open,
    local_day_bounds,
    next_opening,
    opening_status,
    transfer_available,
    unbookable_reason,
    upcoming_closures,
    weekly_hours_json,
)
from app.business.profile import BusinessProfile, Service

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")


def _profile(**overrides: Any) -> BusinessProfile:
    data: dict[str, Any] = {
        "name": "Test",
        "timezone": "America/New_York",
        "hours": {
            "mon": [["08:00", "12:00"], ["13:00", "17:00"]],
            "tue": [["08:00", "17:00"]],
            "wed": [["08:00", "12:00"], ["12:00", "17:00"]],
            "thu": [["08:00", "17:00"]],
            "fri": [["08:00", "17:00"]],
        },
        "closures": [
            {"date": "2026-11-26", "through": "2026-11-27", "reason": "Thanksgiving"},
        ],
        "services": [{"name": "Visit", "duration_minutes": 60, "capacity": 2}],
        "transfer_hours": {"mon": [["09:00", "16:00"]], "thu": [["09:00", "16:00"]]},
        "booking": {"slot_step_minutes": 30, "min_notice_minutes": 0, "max_days_ahead": 60},
    }
    data.update(overrides)
    return BusinessProfile.model_validate(data)


def _ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def _visit(profile: BusinessProfile) -> Service:
    service = profile.service("visit")
    assert service is not None
    return service


# -- open now ----------------------------------------------------------------------------------


def test_open_at_opening_time_and_closed_at_closing_time() -> None:
    profile = _profile()
    assert is_open(profile, _ny(2026, 3, 3, 8, 0))  # Tuesday
    assert not is_open(profile, _ny(2026, 3, 3, 7, 59, 59))
    assert is_open(profile, _ny(2026, 3, 3, 16, 59, 59))
    assert not is_open(profile, _ny(2026, 3, 3, 17, 0))
    assert not is_open(profile, _ny(2026, 3, 7, 10, 0))  # Saturday: no hours


def test_open_now_is_answered_for_the_same_instant_given_in_any_timezone() -> None:
    profile = _profile()
    instant = _ny(2026, 3, 3, 8, 30)
    assert is_open(profile, instant.astimezone(UTC))
    assert is_open(profile, instant.astimezone(ZoneInfo("Asia/Tokyo")))  # already Wednesday


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(_profile(), datetime(2026, 3, 3, 9, 0))


def test_lunch_break_is_closed_and_says_when_it_reopens() -> None:
    status = opening_status(_profile(), _ny(2026, 3, 2, 12, 30))  # Monday lunch
    assert status["open_now"] is False
    assert status["closes_at"] is None
    assert status["next_opening"] == "2026-03-02T13:00:00-05:00"
    assert status["today"]["hours"] == [
        {"open": "08:00", "close": "12:00"},
        {"open": "13:00", "close": "17:00"},
    ]


def test_closes_at_is_the_end_of_the_open_stretch_across_back_to_back_periods() -> None:
    status = opening_status(_profile(), _ny(2026, 3, 4, 11, 0))  # Wednesday 8-12, 12-17
    assert status["open_now"] is True
    assert status["closes_at"] == "2026-03-04T17:00:00-05:00"
    assert status["next_opening"] is None
    assert status["today"]["weekday"] == "Wednesday"


def test_friday_evening_next_opening_is_monday() -> None:
    status = opening_status(_profile(), _ny(2026, 3, 6, 18, 0))
    assert status["next_opening"] == "2026-03-09T08:00:00-04:00"  # DST began on Sunday


def test_late_night_call_in_los_angeles_uses_the_local_day_not_the_utc_day() -> None:
    profile = _profile(
        timezone="America/Los_Angeles",
        hours={"thu": [["18:00", "23:45"]], "fri": [["10:00", "14:00"]]},
    )
    at = datetime(2026, 6, 5, 6, 30, tzinfo=UTC)  # Friday in UTC, Thursday 23:30 in LA
    assert at.astimezone(LA).isoformat() == "2026-06-04T23:30:00-07:00"
    assert is_open(profile, at)
    status = opening_status(profile, at)
    assert status["today"] == {
        "date": "2026-06-04",
        "weekday": "Thursday",
        "hours": [{"open": "18:00", "close": "23:45"}],
    }
    assert status["closes_at"] == "2026-06-04T23:45:00-07:00"
    after = opening_status(profile, at + timedelta(minutes=20))  # 23:50 Thursday
    assert after["open_now"] is False
    assert after["next_opening"] == "2026-06-05T10:00:00-07:00"


def test_a_dated_closure_closes_a_normal_day_and_gives_its_reason() -> None:
    profile = _profile()
    at = _ny(2026, 11, 26, 10, 0)  # Thursday 10 AM, normally open
    assert not is_open(profile, at)
    status = opening_status(profile, at)
    assert status["closure_reason"] == "Thanksgiving"
    assert status["today"]["hours"] == []
    assert status["next_opening"] == "2026-11-30T08:00:00-05:00"  # skips Friday's closure too


def test_next_opening_is_none_when_the_business_never_opens() -> None:
    profile = _profile(hours={})
    assert next_opening(profile, _ny(2026, 3, 2, 9, 0)) is None
    assert opening_status(profile, _ny(2026, 3, 2, 9, 0))["next_opening"] is None


def test_upcoming_closures_include_running_ones_and_stop_at_the_horizon() -> None:
    profile = _profile()
    assert [c.reason for c in upcoming_closures(profile, date(2026, 11, 27))] == ["Thanksgiving"]
    assert upcoming_closures(profile, date(2026, 11, 28)) == []
    assert upcoming_closures(profile, date(2026, 10, 1), days=30) == []


def test_weekly_hours_json_lists_every_weekday() -> None:
    hours = weekly_hours_json(_profile())
    assert list(hours) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert hours["tue"] == [{"open": "08:00", "close": "17:00"}]
    assert hours["sun"] == []


def test_transfers_follow_transfer_hours_and_closures() -> None:
    profile = _profile()
    assert transfer_available(profile, _ny(2026, 3, 2, 9, 0))
    assert not transfer_available(profile, _ny(2026, 3, 2, 8, 30))  # open, but no one to transfer
    assert not transfer_available(profile, _ny(2026, 3, 3, 10, 0))  # Tuesday: none
    assert not transfer_available(profile, _ny(2026, 11, 26, 10, 0))  # Thanksgiving


# -- slots -------------------------------------------------------------------------------------


def test_slots_fill_each_period_on_the_step_and_end_by_closing() -> None:
    profile = _profile()
    slots = free_slots(profile, _visit(profile), date(2026, 3, 2), [], _ny(2026, 3, 1, 9, 0))
    starts = [s.strftime("%H:%M") for s, _ in slots]
    assert starts == [
        *("08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00"),
        *("13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"),
    ]  # nothing spans lunch, the last ends at 17:00
    assert all(e - s == timedelta(hours=1) for s, e in slots)


def test_slots_honour_minimum_notice_past_days_and_days_ahead() -> None:
    profile = _profile(booking={"slot_step_minutes": 30, "min_notice_minutes": 120})
    visit = _visit(profile)
    now = _ny(2026, 3, 3, 10, 10)
    today = [s.strftime("%H:%M") for s, _ in free_slots(profile, visit, date(2026, 3, 3), [], now)]
    assert today[0] == "12:30"  # 10:10 + 2 h = 12:10 -> the next step
    assert free_slots(profile, visit, date(2026, 3, 2), [], now) == []
    assert free_slots(profile, visit, date(2026, 3, 3) + timedelta(days=61), [], now) == []
    assert free_slots(profile, visit, date(2026, 3, 3) + timedelta(days=58), [], now) != []


def test_no_slots_on_a_closure() -> None:
    profile = _profile()
    assert free_slots(profile, _visit(profile), date(2026, 11, 27), [], _ny(2026, 11, 1)) == []


def test_a_slot_stays_free_until_every_unit_of_capacity_is_taken() -> None:
    profile = _profile()
    visit = _visit(profile)
    day, now = date(2026, 3, 3), _ny(2026, 3, 1)
    ten = _ny(2026, 3, 3, 10, 0)
    one = [(ten, ten + timedelta(hours=1), 0)]
    two = [*one, (ten, ten + timedelta(hours=1), 1)]

    def starts(booked: list[tuple[datetime, datetime, int]]) -> set[str]:
        return {s.strftime("%H:%M") for s, _ in free_slots(profile, visit, day, booked, now)}

    assert {"09:30", "10:00", "10:30"} <= starts(one)
    assert {"09:30", "10:00", "10:30"}.isdisjoint(starts(two))
    assert {"09:00", "11:00"} <= starts(two)  # touching is not overlapping


def test_a_slot_needs_one_unit_free_for_its_whole_length() -> None:
    profile = _profile()
    day, now = date(2026, 3, 3), _ny(2026, 3, 1)
    nine, ten = _ny(2026, 3, 3, 9, 0), _ny(2026, 3, 3, 10, 0)
    hour = timedelta(hours=1)
    # 9:30-10:30 never overlaps two bookings at once, but each unit is busy for half of it:
    # the database would refuse it on both units, so it is not offered.
    booked = [(nine, nine + hour, 0), (ten, ten + hour, 1)]
    starts = {
        s.strftime("%H:%M") for s, _ in free_slots(profile, _visit(profile), day, booked, now)
    }
    assert "09:30" not in starts
    assert "11:00" in starts


def test_bookings_on_units_beyond_capacity_do_not_block() -> None:
    profile = _profile()
    ten = _ny(2026, 3, 3, 10, 0)
    booked = [(ten, ten + timedelta(hours=1), 7)]
    slots = free_slots(profile, _visit(profile), date(2026, 3, 3), booked, _ny(2026, 3, 1))
    assert ten in [s for s, _ in slots]


def _night_profile(step: int, minutes: int) -> BusinessProfile:
    return _profile(
        hours={"sun": [["00:00", "06:00"]]},
        services=[{"name": "Visit", "duration_minutes": minutes, "capacity": 1}],
        booking={"slot_step_minutes": step, "min_notice_minutes": 0},
    )


def _exists(at: datetime) -> bool:
    """The local wall time of `at` survives a round trip through UTC (it is not in a gap)."""
    naive = at.replace(tzinfo=None)
    back = datetime.combine(naive.date(), naive.time(), tzinfo=at.tzinfo).astimezone(UTC)
    return back.astimezone(at.tzinfo).replace(tzinfo=None) == naive


def test_spring_forward_day_skips_the_missing_hour_with_correct_offsets() -> None:
    profile = _night_profile(step=30, minutes=60)
    slots = free_slots(profile, _visit(profile), date(2026, 3, 8), [], _ny(2026, 3, 1))
    starts = [s.isoformat() for s, _ in slots]
    assert starts == [
        "2026-03-08T00:00:00-05:00",
        "2026-03-08T00:30:00-05:00",
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T04:00:00-04:00",
        "2026-03-08T04:30:00-04:00",
        "2026-03-08T05:00:00-04:00",
    ]
    assert all(s.hour != 2 and _exists(s) and _exists(e) for s, e in slots)
    assert slots[3][1].isoformat() == "2026-03-08T03:30:00-04:00"  # 60 real minutes
    # Subtracting in UTC: Python subtracts same-zone datetimes by wall clock (2 hours here).
    assert all(e.astimezone(UTC) - s.astimezone(UTC) == timedelta(hours=1) for s, e in slots)


def test_fall_back_day_offers_the_repeated_hour_twice_with_both_offsets() -> None:
    profile = _night_profile(step=60, minutes=60)
    slots = free_slots(profile, _visit(profile), date(2026, 11, 1), [], _ny(2026, 10, 25))
    assert [s.isoformat() for s, _ in slots] == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00",
        "2026-11-01T04:00:00-05:00",
        "2026-11-01T05:00:00-05:00",
    ]  # seven real hours between 00:00 and 06:00 on this day
    utc = [s.astimezone(UTC) for s, _ in slots]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(utc))


def test_daytime_slots_change_offset_across_the_dst_weekend() -> None:
    profile = _profile()
    visit, now = _visit(profile), _ny(2026, 3, 1)
    friday = free_slots(profile, visit, date(2026, 3, 6), [], now)
    monday = free_slots(profile, visit, date(2026, 3, 9), [], now)
    assert friday[0][0].isoformat() == "2026-03-06T08:00:00-05:00"
    assert monday[0][0].isoformat() == "2026-03-09T08:00:00-04:00"
    assert monday[0][0].astimezone(UTC).hour == 12 and friday[0][0].astimezone(UTC).hour == 13


def test_local_days_last_23_and_25_hours_on_dst_changes() -> None:
    start, end = local_day_bounds(NY, date(2026, 3, 8))
    assert end - start == timedelta(hours=23)
    start, end = local_day_bounds(NY, date(2026, 11, 1))
    assert end - start == timedelta(hours=25)


def test_open_now_around_the_spring_forward_gap() -> None:
    profile = _night_profile(step=30, minutes=60)
    just_before = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # 01:59 EST
    just_after = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert is_open(profile, just_before) and is_open(profile, just_after)
    assert opening_status(profile, just_after)["closes_at"] == "2026-03-08T06:00:00-04:00"


@pytest.mark.parametrize(
    ("start", "code"),
    [
        (_ny(2026, 3, 3, 9, 0), "in_past"),
        (_ny(2026, 3, 3, 10, 30), "too_soon"),
        (_ny(2026, 6, 1, 9, 0), "too_far_ahead"),
        (_ny(2026, 3, 4, 7, 30), "outside_hours"),
        (_ny(2026, 3, 3, 16, 30), "outside_hours"),  # would end after closing
        (_ny(2026, 3, 3, 12, 10), "outside_hours"),  # off the 30-minute grid
        (_ny(2026, 3, 7, 10, 0), "outside_hours"),  # Saturday
        (_ny(2026, 3, 3, 12, 0), None),
    ],
)
def test_unbookable_reason_explains_why_a_start_is_refused(
    start: datetime, code: str | None
) -> None:
    profile = _profile(booking={"slot_step_minutes": 30, "min_notice_minutes": 120})
    reason = unbookable_reason(profile, _visit(profile), start, _ny(2026, 3, 3, 9, 30))
    assert (reason[0] if reason else None) == code


def test_unbookable_reason_names_the_closure() -> None:
    profile = _profile()
    reason = unbookable_reason(profile, _visit(profile), _ny(2026, 11, 27, 9), _ny(2026, 11, 1))
    assert reason == ("closed", "closed on 2026-11-27 (Thanksgiving)")


def test_candidate_starts_ignore_bookings() -> None:
    profile = _profile()
    ten = _ny(2026, 3, 3, 10, 0)
    booked = [(ten, ten + timedelta(hours=1), u) for u in (0, 1)]
    visit, now = _visit(profile), _ny(2026, 3, 1)
    assert len(candidate_slots(profile, visit, date(2026, 3, 3), now)) == 17
    assert len(free_slots(profile, visit, date(2026, 3, 3), booked, now)) == 14
