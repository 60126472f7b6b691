"""sendAt phrases: every listed form, zones, daylight saving and the errors people see."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agentpost.domain.schedule import ScheduleError, display, parse_send_at, zone_named

# Saturday 2026-11-21 14:00 UTC (09:00 in New York, EST).
NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = NEW_YORK, now: datetime = NOW) -> datetime:
    return parse_send_at(text, now=now, zone=zone)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("2026-12-01T10:00:00Z", utc(2026, 12, 1, 10)),
        ("2026-12-01T10:00:00+02:00", utc(2026, 12, 1, 8)),
        ("2026-12-01 10:00", utc(2026, 12, 1, 15)),  # no offset: the agent's zone (EST)
        ("2026-12-01", utc(2026, 12, 1, 5)),
        ("in 30 minutes", utc(2026, 11, 21, 14, 30)),
        ("in 2 hours", utc(2026, 11, 21, 16)),
        ("in an hour", utc(2026, 11, 21, 15)),
        ("in 3 days", utc(2026, 11, 24, 14)),
        ("in 1 week", utc(2026, 11, 28, 14)),
        ("In 45 Mins", utc(2026, 11, 21, 14, 45)),
        ("tomorrow 8am", utc(2026, 11, 22, 13)),
        ("tomorrow at 14:30", utc(2026, 11, 22, 19, 30)),
        ("tomorrow morning", utc(2026, 11, 22, 14)),
        ("tomorrow", utc(2026, 11, 22, 14)),
        ("today 5pm", utc(2026, 11, 21, 22)),
        ("next monday 9am", utc(2026, 11, 23, 14)),
        ("next saturday 9am", utc(2026, 11, 28, 14)),  # today is Saturday: a week away
        ("friday 5:15 pm", utc(2026, 11, 27, 22, 15)),
        ("saturday 10am", utc(2026, 11, 21, 15)),  # later today
        ("saturday 8am", utc(2026, 11, 28, 13)),  # passed today: the coming one
        ("tonight", utc(2026, 11, 22, 1)),
        ("tonight at 9", utc(2026, 11, 22, 2)),
        ("this evening", utc(2026, 11, 21, 23)),
        ("this afternoon", utc(2026, 11, 21, 19)),
        ("noon", utc(2026, 11, 21, 17)),
        ("at 5pm", utc(2026, 11, 21, 22)),
        ("02-14-2027 3:30 PM EST", utc(2027, 2, 14, 20, 30)),
        ("02/14/2027 3:30 PM PST", utc(2027, 2, 14, 23, 30)),
        ("07-04-2027 9:00 AM", utc(2027, 7, 4, 13)),  # agent zone, summer time (EDT)
        ("Feb 14 2027 3pm", utc(2027, 2, 14, 20)),
        ("14 February 2027 15:30 UTC", utc(2027, 2, 14, 15, 30)),
        ("Sat, 14 Feb 2027 15:30:00 -0500", utc(2027, 2, 14, 20, 30)),
        ("tomorrow 9am Europe/Paris", utc(2026, 11, 22, 8)),
        ("tomorrow 9am PT", utc(2026, 11, 22, 17)),
        ("tomorrow 9am UTC+2", utc(2026, 11, 22, 7)),
        ("tomorrow 9am +05:30", utc(2026, 11, 22, 3, 30)),
    ],
)
def test_every_listed_form(phrase: str, expected: datetime) -> None:
    assert at(phrase) == expected


def test_results_are_utc_to_the_second() -> None:
    now = datetime(2026, 11, 21, 14, 0, 12, 345678, tzinfo=UTC)
    result = at("in 30 minutes", now=now)
    assert result == utc(2026, 11, 21, 14, 30, 12) and result.tzinfo is UTC


def test_named_days_follow_the_agents_zone_not_utc() -> None:
    # 23:30 UTC on Saturday is already Sunday in Tokyo: "tomorrow" is Monday there.
    late = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert at("tomorrow 8am", ZoneInfo("Asia/Tokyo"), late) == utc(2026, 11, 22, 23)
    assert at("tomorrow 8am", ZoneInfo("UTC"), late) == utc(2026, 11, 22, 8)


def test_generic_zone_names_follow_daylight_saving() -> None:
    assert at("07-04-2027 9:00 AM ET") == utc(2027, 7, 4, 13)
    assert at("07-04-2027 9:00 AM EST") == utc(2027, 7, 4, 14)  # a fixed offset stays fixed


def test_a_time_skipped_by_daylight_saving_is_refused() -> None:
    # New York jumps from 02:00 to 03:00 on 2027-03-14.
    with pytest.raises(ScheduleError, match="does not exist"):
        at("03-14-2027 2:30 AM")
    assert at("03-14-2027 3:30 AM") == utc(2027, 3, 14, 7, 30)


def test_a_repeated_time_is_its_first_occurrence() -> None:
    # 01:30 happens twice on 2027-11-07 in New York; the first is still EDT (UTC-4).
    assert at("11-07-2027 1:30 AM") == utc(2027, 11, 7, 5, 30)


def test_across_a_dst_change_named_days_keep_the_wall_clock() -> None:
    before = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)  # Saturday, EST
    assert at("tomorrow 9am", now=before) == utc(2027, 3, 14, 13)  # Sunday, EDT


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("", "empty"),
        ("whenever you like", "cannot understand"),
        ("in 5 fortnights", "unknown unit"),
        ("tomorrow 25:00", "hour must be 0-23"),
        ("tomorrow 13pm", "1-12"),
        ("tomorrow 9:75am", "minutes"),
        ("02-30-2027 3:30 PM", "not a calendar date"),
        ("13-01-2027 3:30 PM", "not a calendar date"),
        ("tomorrow 9am Mars/Olympus", "unknown time zone"),
        ("tomorrow at teatime", "cannot read the time"),
        ("2026-13-45T10:00", "not a valid ISO 8601"),
        ("in 99999999999 weeks", "too far"),
        ("9999-12-31T23:59:00-05:00", "out of the range"),
    ],
)
def test_bad_phrases_say_what_is_wrong(phrase: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        at(phrase)


def test_past_times_parse_and_are_left_for_the_caller_to_refuse() -> None:
    assert at("2020-01-01T00:00:00Z") < NOW


def test_zone_lookup_and_display() -> None:
    assert str(zone_named("Europe/Paris")) == "Europe/Paris"
    with pytest.raises(ScheduleError, match="IANA"):
        zone_named("Not/AZone")
    assert display(utc(2026, 11, 22, 13), NEW_YORK) == "2026-11-22T08:00:00-05:00"
