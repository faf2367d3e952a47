"""When to call back: «перезвоните завтра в 10» read as a moment in the contact's time zone, moved into the
campaign's calling window (dateparser reads the phrase; a few spoken forms it does not know are normalised first).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dateparser
from django.utils import timezone

from calls.services import calling_window

_RU_NUMBERS = {
    "один": 1, "одного": 1, "два": 2, "двух": 2, "три": 3, "трёх": 3, "трех": 3, "четыре": 4,
    "четырёх": 4, "четырех": 4, "пять": 5, "пяти": 5, "шесть": 6, "шести": 6, "семь": 7, "семи": 7,
    "восемь": 8, "восьми": 8, "девять": 9, "девяти": 9, "десять": 10, "десяти": 10, "одиннадцать": 11,
    "одиннадцати": 11, "двенадцать": 12, "двенадцати": 12,
}
_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
               "ten": 10, "eleven": 11, "twelve": 12}
# Vague parts of the day, as a sales team would read them.
_PARTS = {"утром": time(10), "morning": time(10), "днем": time(13), "днём": time(13), "после обеда": time(14),
          "after lunch": time(14), "afternoon": time(14), "вечером": time(18), "evening": time(18),
          "tonight": time(18)}
_LATER = re.compile(r"^(позже|попозже|потом|в другой раз|later)$")


def _normalise(text: str) -> str:
    text = text.lower().strip()
    for words in (_RU_NUMBERS, _EN_NUMBERS):
        text = re.sub(r"\b(" + "|".join(sorted(words, key=len, reverse=True)) + r")\b",
                      lambda m, words=words: str(words[m.group(1)]), text)
    text = re.sub(r"\bв (\d{1,2})(?:\s+час\w*)?\b(?!:)", r"в \1:00", text)
    text = re.sub(r"\bat (\d{1,2})\b(?!:)", r"at \1:00", text)
    text = re.sub(r"\b(\d{1,2}):00 вечера\b", lambda m: f"{int(m.group(1)) % 12 + 12}:00", text)
    text = re.sub(r"\b(\d{1,2}):00 утра\b", r"\1:00 утра", text)
    # «в 3» in a business conversation is 15:00, unless it is «в 3 утра»
    text = re.sub(r"\bв ([1-7]):00\b(?! утра)", lambda m: f"в {int(m.group(1)) + 12}:00", text)
    return re.sub(r"(\d:\d\d)\s+(утра|часов|часа)\b", r"\1", text)


def parse_callback(*, text: str, tz_name: str, now: datetime) -> datetime | None:
    """The moment ``text`` names, in ``tz_name``, relative to ``now``; None when it names none."""
    tz = ZoneInfo(tz_name)
    local_now = now.astimezone(tz)
    phrase = _normalise(text)
    if not phrase:
        return None
    if _LATER.match(phrase):
        return local_now + timedelta(hours=2)
    part = next((t for k, t in _PARTS.items() if k in phrase), None)
    if re.search(r"следующ\w* недел|next week", phrase):
        monday = (local_now + timedelta(days=7 - local_now.weekday())).date()
        return datetime.combine(monday, part or time(10), tz)
    stripped = phrase
    for k in _PARTS:
        stripped = stripped.replace(k, "").strip()
    clock_only = re.fullmatch(r"(?:в|к|at|около)?\s*(\d{1,2}):(\d{2})", stripped)
    if clock_only:  # dateparser would always pick tomorrow for a bare time: today if it is still ahead
        hour, minute = int(clock_only.group(1)), int(clock_only.group(2))
        if hour > 23 or minute > 59:
            return None
        moment = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return moment if moment > local_now else moment + timedelta(days=1)
    parsed = dateparser.parse(
        stripped or "сегодня", languages=["ru", "en"],
        settings={"RELATIVE_BASE": local_now.replace(tzinfo=None), "PREFER_DATES_FROM": "future",
                  "TIMEZONE": tz_name, "RETURN_AS_TIMEZONE_AWARE": True, "PREFER_DAY_OF_MONTH": "first"},
    )
    if parsed is None:
        return None
    parsed = parsed.astimezone(tz)
    has_clock = bool(re.search(r"\d{1,2}:\d{2}", stripped)) or stripped.startswith(("через", "in "))
    if part is not None and not has_clock:
        parsed = datetime.combine(parsed.date(), part, tz)
    elif not has_clock:
        parsed = datetime.combine(parsed.date(), time(10), tz) if parsed.date() != local_now.date() else parsed
    if parsed <= local_now:  # «в 10» said at 11: the next 10 o'clock
        parsed += timedelta(days=1)
    return parsed


def into_window(*, moment: datetime, campaign, tz_name: str, days: int = 14) -> datetime | None:
    """The first moment at or after ``moment`` inside the campaign's calling window in ``tz_name``."""
    local = moment.astimezone(ZoneInfo(tz_name))
    length = timedelta(seconds=campaign.average_call_seconds)
    for offset in range(days):
        day = local.date() + timedelta(days=offset)
        window = calling_window(campaign=campaign, tz_name=tz_name, day=day)
        if window is None:
            continue
        start, end = window
        candidate = max(start, local)
        if candidate + length <= end:
            return candidate
    return None


def callback_due_at(*, text: str, tz_name: str, campaign, said_at: datetime | None = None) -> datetime | None:
    """When to call back, inside the calling window; None when the callee named no time."""
    moment = parse_callback(text=text, tz_name=tz_name, now=said_at or timezone.now()) if text else None
    if moment is None:
        return None
    return into_window(moment=moment, campaign=campaign, tz_name=tz_name)
