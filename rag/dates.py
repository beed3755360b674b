"""Dates named in a question ("on January 8", "the December 30 call", "in early January", "March 2022").

The cue that singles out a briefing is often its date, which sits in the document's metadata rather than
in the passage. Retrieval uses these windows to search the documents published then as well, and
declines a question that only asks about months after the newest source.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

_MONTHS = {name.lower(): i for i in range(1, 13) for name in (calendar.month_name[i], calendar.month_abbr[i])}
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_PATTERNS = [
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+{_YEAR})?", re.IGNORECASE),  # January 8(, 2022)
    re.compile(rf"\b{_DAY}\s+{_MONTH}\b(?:,?\s+{_YEAR})?", re.IGNORECASE),  # 8 January (2022)
    re.compile(rf"\b(?P<part>early|mid|late)[\s-]+{_MONTH}\b(?:,?\s+{_YEAR})?", re.IGNORECASE),
    re.compile(rf"\b{_MONTH}\b(?:,?\s+{_YEAR})?", re.IGNORECASE),  # (in) January (2022)
]
_PARTS = {"early": (1, 10), "mid": (11, 20), "late": (21, 31)}
SLACK = dt.timedelta(days=1)  # a statement is often posted the day after the call it reports


def date_windows(question: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Inclusive date ranges the question names, placed in the years between ``first`` and ``last``."""
    windows: list[tuple[dt.date, dt.date]] = []
    for year, month, day, part, _ in _mentions(question):
        for y in [year] if year else range(first.year, last.year + 1):
            window = _window(y, month, day, part)
            if window and window[1] >= first and window[0] <= last:
                windows.append(window)
    return windows


def after_the_sources(question: str, last: dt.date) -> dt.date | None:
    """The first day the question asks about when every date it names (each with its year) falls in a
    month after ``last``, the newest source's date: sources cannot report what happened after them."""
    starts = []
    for year, month, day, part, _ in _mentions(question):
        window = _window(year, month, day, part) if year else None
        if window is None or (year, month) <= (last.year, last.month):
            return None
        starts.append(window[0])
    return min(starts, default=None)


def date_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` names a date, in order: what a follow-up's new date takes the place of."""
    return sorted(span for *_, span in _mentions(text))


def _mentions(question: str) -> list[tuple[int | None, int, str | None, str | None, tuple[int, int]]]:
    """(year or None, month, day, early/mid/late, span) for each date the question names.

    A month name alone ("in January") only counts with a year or a preposition before it, since "may"
    and "march" are also verbs.
    """
    found = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(question):
            if any(lo < match.end() and match.start() < hi for lo, hi in taken):
                continue
            groups = match.groupdict()
            if pattern is _PATTERNS[3] and not groups.get("year") and not re.search(
                r"\b(?:in|since|during|before|after|by|of|until)\s+$", question[: match.start()], re.IGNORECASE
            ):
                continue
            year = int(groups["year"]) if groups.get("year") else None
            found.append((year, _MONTHS[groups["month"].lower().rstrip(".")], groups.get("day"), groups.get("part"),
                          match.span()))
            taken.append(match.span())
    return found


def _window(year: int, month: int, day: str | None, part: str | None) -> tuple[dt.date, dt.date] | None:
    days_in_month = calendar.monthrange(year, month)[1]
    if day is not None:
        if not 1 <= int(day) <= days_in_month:
            return None
        date = dt.date(year, month, int(day))
        return date - SLACK, date + SLACK
    lo, hi = _PARTS.get((part or "").lower(), (1, days_in_month))
    return dt.date(year, month, lo), dt.date(year, month, min(hi, days_in_month))
