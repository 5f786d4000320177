"""The business profile file: the shipped example loads, bad input names the field, rendering."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from app.business.profile import BusinessProfile, load_profile, render_profile_for_prompt
from app.business.wording import describe_week, spoken_time

EXAMPLE = Path(__file__).resolve().parents[2] / "prompts" / "business.toml"

MINIMAL = """
name = "Test Salon"
timezone = "America/Chicago"
[hours]
mon = [["09:00", "17:00"]]
[[services]]
name = "Haircut"
duration_minutes = 30
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "business.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_example_profile_loads_with_services_hours_and_closures() -> None:
    profile = load_profile(EXAMPLE)
    assert profile.name == "Maple Street Dental"
    assert profile.timezone == "America/New_York"
    cleaning = profile.service("cleaning")
    assert cleaning is not None and cleaning.capacity == 2
    assert profile.hours.tue[1].as_pair() == (time(13), time(19))  # a split shift
    assert profile.hours.sun == ()
    closure = profile.closure_on(date(2026, 11, 27))
    assert closure is not None and closure.reason == "Thanksgiving"
    assert {c.date.year for c in profile.closures} == {2026, 2027}
    assert profile.booking.slot_step_minutes == 30
    assert "parking" in profile.faq


def test_minimal_profile_uses_defaults_for_optional_sections(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, MINIMAL))
    assert profile.services[0].capacity == 1
    assert profile.transfer_hours.mon == ()
    assert profile.closures == ()


def test_times_accept_toml_time_literals_and_single_digit_hours(tmp_path: Path) -> None:
    text = MINIMAL.replace('mon = [["09:00", "17:00"]]', 'mon = [[08:30:00, "9:00"]]')
    assert load_profile(_write(tmp_path, text)).hours.mon[0].as_pair() == (time(8, 30), time(9))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('"America/Chicago"', '"America/Chicag"'), "timezone: unknown time zone"),
        (('["09:00", "17:00"]', '["17:00", "09:00"]'), "hours mon #1: closing time 09:00 must"),
        (
            ('[["09:00", "17:00"]]', '[["09:00", "13:00"], ["12:00", "17:00"]]'),
            "hours mon: periods 09:00-13:00 and 12:00-17:00 overlap",
        ),
        (("duration_minutes = 30", "duration_minutes = 30\ncapcity = 2"), "services #1 capcity"),
        (("duration_minutes = 30", "duration_minutes = 0"), "services #1 duration_minutes"),
        (("[hours]", "[hours]\nmonday = []"), "hours monday: unknown field"),
        (('name = "Test Salon"\n', ""), "name: missing"),
    ],
)
def test_bad_profile_is_a_value_error_naming_the_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = _write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ValueError, match=r"business\.toml: ") as info:
        load_profile(path)
    assert expected in str(info.value)


def test_duplicate_service_and_backwards_closure_are_rejected(tmp_path: Path) -> None:
    twice = MINIMAL + '[[services]]\nname = "haircut"\nduration_minutes = 45\n'
    with pytest.raises(ValueError, match="'haircut' is listed twice"):
        load_profile(_write(tmp_path, twice))
    backwards = MINIMAL + '[[closures]]\ndate = 2026-12-26\nthrough = 2026-12-24\nreason = "x"\n'
    with pytest.raises(ValueError, match=r"closures #1: 'through' \(2026-12-24\) is before"):
        load_profile(_write(tmp_path, backwards))


def test_invalid_toml_and_missing_file_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not valid TOML"):
        load_profile(_write(tmp_path, 'name = "unclosed'))
    with pytest.raises(ValueError, match="business profile not found"):
        load_profile(tmp_path / "nope.toml")


def test_rendered_prompt_states_hours_services_coming_closures_and_faq() -> None:
    text = render_profile_for_prompt(load_profile(EXAMPLE), today=date(2026, 11, 1))
    assert text.startswith("## Maple Street Dental\n")
    assert "- Address: 214 Maple Street, Somerville, MA 02143" in text
    assert "- Monday: 8 AM to 5 PM" in text
    assert "- Tuesday: 8 AM to noon and 1 PM to 7 PM" in text
    assert "- Sunday: closed" in text
    assert "- Thursday, November 26 to Friday, November 27: Thanksgiving" in text
    assert "Friday, January 1, 2027: New Year" in text  # the year is said when it differs
    assert "Labor Day" not in text  # 2026's is past, 2027's is beyond the 90-day horizon
    assert "- Cleaning (60 minutes): Routine cleaning" in text
    assert "- Parking: Free parking" in text
    assert "- Saturday and Sunday: closed" in text  # transfer hours


def test_render_defaults_to_the_profiles_local_today() -> None:
    profile = BusinessProfile.model_validate(
        {
            "name": "X",
            "timezone": "UTC",
            "hours": {},
            "services": [{"name": "A", "duration_minutes": 30}],
            "closures": [{"date": "2999-01-01", "reason": "far future"}],
        }
    )
    assert "far future" not in render_profile_for_prompt(profile)


def test_week_description_groups_days_with_equal_hours() -> None:
    nine_five = [(time(9), time(17))]
    week = {d: nine_five for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [], "sun": []}
    assert describe_week(week) == ["Monday to Friday: 9 AM to 5 PM", "Saturday and Sunday: closed"]
    assert [spoken_time(time(h, m)) for h, m in ((0, 0), (9, 30), (12, 0), (23, 5))] == [
        "12 AM",
        "9:30 AM",
        "noon",
        "11:05 PM",
    ]
