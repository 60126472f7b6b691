"""When to send: ``sendAt`` phrases turned into an instant (aware, UTC).

Accepted forms (case-insensitive, an optional ``at`` before a time):

- ISO 8601: ``2026-02-14T15:30:00Z``, ``2026-02-14 15:30``, ``2026-02-14`` (no offset →
  the agent's zone);
- relative: ``in 30 minutes``, ``in 2 hours``, ``in an hour``, ``in 3 days``, ``in 1 week``;
- named: ``today 5pm``, ``tomorrow 8am``, ``tomorrow at 14:30``, ``tomorrow morning``;
- day-based: ``next monday 9am`` (1-7 days ahead), ``friday 5pm`` (the coming one);
- casual: ``tonight`` (20:00), ``this evening`` (18:00), ``this afternoon`` (14:00),
  ``noon``, ``at 5pm``;
- human dates: ``02-14-2026 3:30 PM`` (month first, ``/`` or ``-``), ``Feb 14 2026 3pm``,
  ``14 February 2026 15:30``, RFC 5322 dates (``Sat, 14 Feb 2026 15:30:00 -0500``).

Any form but ISO and relative may end with a zone: an abbreviation (``EST``, ``PDT``,
``CET`` ... fixed offsets; ``ET``/``PT``/``CT``/``MT`` follow daylight saving), an IANA
name (``Europe/Paris``) or an offset (``+05:30``, ``UTC-3``). Without one, wall-clock
times are in the agent's zone. A wall-clock time that does not exist (skipped by a
daylight-saving change) is refused; one that happens twice is its first occurrence.
Pure: ``now`` is a parameter and nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMS_HINT = (
    "use ISO 8601 (2026-02-14T15:30:00Z), 'in 30 minutes', 'tomorrow 8am', "
    "'next monday 9am', '02-14-2026 3:30 PM EST' or 'tonight'"
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "jan feb mar apr may jun jul aug sep oct nov dec".split()  # noqa: SIM905 (readable)
)
# Fixed offsets in minutes (the upstream's table). IST is India's, BST British summer time.
ABBREVIATIONS = {
    "utc": 0, "gmt": 0, "z": 0, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
    "mst": -420, "mdt": -360, "pst": -480, "pdt": -420, "akst": -540, "akdt": -480,
    "hst": -600, "ast": -240, "adt": -180, "nst": -210, "ndt": -150, "bst": 60, "cet": 60,
    "cest": 120, "eet": 120, "eest": 180, "wat": 60, "eat": 180, "sast": 120, "ist": 330,
    "hkt": 480, "sgt": 480, "jst": 540, "kst": 540, "aest": 600, "aedt": 660,
    "nzst": 720, "nzdt": 780,
}  # fmt: skip
# Generic names mean "whatever applies on that date", so they follow daylight saving.
GENERIC_ZONES = {
    "et": "America/New_York",
    "ct": "America/Chicago",
    "mt": "America/Denver",
    "pt": "America/Los_Angeles",
}
PARTS_OF_DAY = {
    "morning": time(9),
    "noon": time(12),
    "midday": time(12),
    "afternoon": time(14),
    "evening": time(18),
    "night": time(20),
    "tonight": time(20),
    "midnight": time(0),
}
UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
DEFAULT_TIME = time(9)
MAX_RELATIVE_SECONDS = 10 * 366 * 86400

TIME_RE = r"(?:(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?)"
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}.*)?$")
RELATIVE_RE = re.compile(r"^in\s+(?P<count>\d+|an?|one)\s*(?P<unit>[a-z]+)$")
DAY_RE = re.compile(
    r"^(?P<day>today|tomorrow|tonight|(?:this|next)\s+[a-z]+|[a-z]+day)"
    r"(?:\s+(?:at\s+)?(?P<rest>.+))?$"
)
US_DATE_RE = re.compile(
    r"^(?P<month>\d{1,2})[-/](?P<day>\d{1,2})[-/](?P<year>\d{4})(?:,?\s+(?:at\s+)?(?P<rest>.+))?$"
)
NAMED_DATE_RE = re.compile(
    r"^(?:(?P<m1>[a-z]{3,9})\.?\s+(?P<d1>\d{1,2})(?:st|nd|rd|th)?|(?P<d2>\d{1,2})(?:st|nd|rd|th)?"
    r"\s+(?P<m2>[a-z]{3,9})\.?)(?:,?\s+(?P<year>\d{4}))?(?:,?\s+(?:at\s+)?(?P<rest>.+))?$"
)
OFFSET_RE = re.compile(r"^(?:utc|gmt)?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")


class ScheduleError(ValueError):
    """The phrase is not a time we understand, or names an impossible one."""


def parse_send_at(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """The instant ``text`` names, in UTC (second precision). ``now`` must be aware."""
    try:
        return _parse(text, now, zone)
    except OverflowError:  # e.g. 9999-12-31 east of UTC, or "in 9999999 weeks"
        raise ScheduleError("sendAt is out of the range of dates we can schedule") from None


def _parse(text: str, now: datetime, zone: tzinfo) -> datetime:
    phrase = " ".join(text.strip().lower().split()).rstrip(".")
    if not phrase:
        raise ScheduleError(f"sendAt is empty; {FORMS_HINT}")
    if ISO_RE.match(phrase):
        return _iso(text.strip(), zone)
    relative = RELATIVE_RE.match(phrase)
    if relative:
        return _relative(relative.group("count"), relative.group("unit"), now)
    phrase, zone = _split_zone(phrase, zone)
    result = _wall_clock(phrase, now.astimezone(zone), zone)
    if result is None:
        result = _rfc5322(text)
    if result is None:
        raise ScheduleError(f"cannot understand sendAt {text.strip()!r}; {FORMS_HINT}")
    return result.astimezone(UTC).replace(microsecond=0)


def zone_named(name: str) -> tzinfo:
    """An IANA zone by name (``Europe/Paris``, ``UTC``); raises ``ScheduleError``."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris"
        ) from None


def _iso(text: str, zone: tzinfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"{text!r} is not a valid ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = localize(parsed, zone)
    return parsed.astimezone(UTC).replace(microsecond=0)


def _relative(count: str, unit: str, now: datetime) -> datetime:
    if unit not in UNITS:
        raise ScheduleError(f"unknown unit {unit!r} in sendAt; use minutes, hours, days or weeks")
    amount = 1 if count in ("a", "an", "one") else int(count)
    if amount * UNITS[unit] > MAX_RELATIVE_SECONDS:
        raise ScheduleError("sendAt is too far in the future")
    return (now + timedelta(seconds=amount * UNITS[unit])).astimezone(UTC).replace(microsecond=0)


def _split_zone(phrase: str, zone: tzinfo) -> tuple[str, tzinfo]:
    """A trailing zone token overrides the agent's zone."""
    head, _, last = phrase.rpartition(" ")
    if not head:
        return phrase, zone
    if last in ABBREVIATIONS:
        return head, timezone(timedelta(minutes=ABBREVIATIONS[last]))
    if last in GENERIC_ZONES:
        return head, ZoneInfo(GENERIC_ZONES[last])
    offset = OFFSET_RE.match(last)
    if offset:
        minutes = int(offset.group("h")) * 60 + int(offset.group("m") or 0)
        if minutes > 14 * 60:
            raise ScheduleError(f"{last!r} is not a valid UTC offset")
        sign = -1 if offset.group("sign") == "-" else 1
        return head, timezone(timedelta(minutes=sign * minutes))
    if "/" in last and not re.search(r"\d", last):
        for candidate in (last, "/".join(p.title() for p in last.split("/"))):
            try:
                return head, ZoneInfo(candidate.replace(" ", "_"))
            except (ZoneInfoNotFoundError, ValueError):
                continue
        raise ScheduleError(f"unknown time zone {last!r}: use an IANA name such as Europe/Paris")
    return phrase, zone


def _wall_clock(phrase: str, local_now: datetime, zone: tzinfo) -> datetime | None:
    """Forms that name a day and a time on the wall clock of ``zone``."""
    for parse in (_day_phrase, _us_date, _named_date, _time_only):
        found = parse(phrase, local_now)
        if found is not None:
            day, at = found
            return localize(datetime.combine(day, at), zone)
    return None


def _time_only(phrase: str, local_now: datetime) -> tuple[date, time] | None:
    """``noon``, ``at 5pm``, ``17:30``: today."""
    phrase = phrase.removeprefix("at ").strip()
    at = _time_of(phrase, allow_bare_hour=False)
    return (local_now.date(), at) if at is not None else None


def _day_phrase(phrase: str, local_now: datetime) -> tuple[date, time] | None:
    match = DAY_RE.match(phrase)
    if not match:
        return None
    word, rest = match.group("day"), match.group("rest")
    today = local_now.date()
    if word in ("today", "tomorrow", "tonight"):
        day = today + timedelta(days=1 if word == "tomorrow" else 0)
        at = _time_or_part(rest, evening=word == "tonight") or PARTS_OF_DAY.get(word, DEFAULT_TIME)
        return day, at
    qualifier, _, name = word.rpartition(" ")
    if qualifier == "this" and name in PARTS_OF_DAY and rest is None:
        return today, PARTS_OF_DAY[name]
    if name not in WEEKDAYS:
        return None
    ahead = (WEEKDAYS.index(name) - today.weekday()) % 7
    if qualifier == "next" and ahead == 0:
        ahead = 7  # "next monday" said on a Monday is a week away
    at = _time_or_part(rest) or DEFAULT_TIME
    if qualifier != "next" and ahead == 0 and at <= local_now.time():
        ahead = 7  # "monday 9am" said on Monday at ten means the coming Monday
    return today + timedelta(days=ahead), at


def _us_date(phrase: str, local_now: datetime) -> tuple[date, time] | None:
    match = US_DATE_RE.match(phrase)
    if not match:
        return None
    day = _date(int(match.group("year")), int(match.group("month")), int(match.group("day")))
    return day, _time_or_part(match.group("rest")) or time(0)


def _named_date(phrase: str, local_now: datetime) -> tuple[date, time] | None:
    match = NAMED_DATE_RE.match(phrase)
    if not match:
        return None
    month_name = (match.group("m1") or match.group("m2"))[:3]
    if month_name not in MONTHS:
        return None
    month = MONTHS.index(month_name) + 1
    day_number = int(match.group("d1") or match.group("d2"))
    at = _time_or_part(match.group("rest")) or time(0)
    if match.group("year"):
        return _date(int(match.group("year")), month, day_number), at
    day = _date(local_now.year, month, day_number)
    if datetime.combine(day, at) <= local_now.replace(tzinfo=None):
        day = _date(local_now.year + 1, month, day_number)  # "Feb 14" means the next one
    return day, at


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ScheduleError(f"{year:04d}-{month:02d}-{day:02d} is not a calendar date") from None


def _time_or_part(rest: str | None, *, evening: bool = False) -> time | None:
    if rest is None:
        return None
    rest = rest.removeprefix("at ").strip()
    if rest in PARTS_OF_DAY:
        return PARTS_OF_DAY[rest]
    at = _time_of(rest, allow_bare_hour=True, evening=evening)
    if at is None:
        raise ScheduleError(f"cannot read the time {rest!r}; write it like 8am, 3:30 PM or 14:30")
    return at


def _time_of(text: str, *, allow_bare_hour: bool, evening: bool = False) -> time | None:
    if text in ("noon", "midday", "midnight"):
        return PARTS_OF_DAY[text]
    match = re.fullmatch(TIME_RE, text)
    if not match:
        return None
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").replace(".", "")
    if not ampm and match.group("minute") is None and not allow_bare_hour:
        return None  # a bare number alone is not a time
    if minute > 59:
        raise ScheduleError(f"{text!r}: minutes must be 00-59")
    if ampm:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"{text!r}: with am/pm the hour must be 1-12")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif hour > 23:
        raise ScheduleError(f"{text!r}: the hour must be 0-23")
    elif evening and hour < 12:
        hour += 12  # "tonight at 9" is 21:00
    return time(hour, minute)


def _rfc5322(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 5322 "-0000": the zone is unknown; take it as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def localize(naive: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to a wall-clock time; refuses times a DST change skips.

    Repeated times (clocks going back) resolve to the first occurrence (``fold=0``).
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ScheduleError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks skip it for "
            "daylight saving time); pick a time outside the gap"
        )
    return aware


def display(instant: datetime, zone: tzinfo) -> str:
    """``2026-02-14T10:30:00-05:00``: an instant in the agent's zone, ISO 8601."""
    return instant.astimezone(zone).replace(microsecond=0).isoformat()
