"""Dates named in a question ("on January 8", "the December 30 call", "in early January", "March 2022").

The cue that singles out a briefing is often its date, which sits in the document's metadata rather than
in the passage. Retrieval uses these windows to search the documents published then as well.
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
    """Inclusive date ranges the question names, placed in the years between ``first`` and ``last``.

    A month name alone ("in January") only counts with a year or a preposition before it, since "may"
    and "march" are also verbs.
    """
    windows: list[tuple[dt.date, dt.date]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(question):
            if any(lo < match.end() and match.start() < hi for lo, hi in taken):
                continue
            groups = match.groupdict()
            month = _MONTHS[groups["month"].lower().rstrip(".")]
            if pattern is _PATTERNS[3] and not groups.get("year") and not re.search(
                r"\b(?:in|since|during|before|after|by|of|until)\s+$", question[: match.start()], re.IGNORECASE
            ):
                continue
            years = [int(groups["year"])] if groups.get("year") else list(range(first.year, last.year + 1))
            for year in years:
                window = _window(year, month, groups.get("day"), groups.get("part"))
                if window and window[1] >= first and window[0] <= last:
                    windows.append(window)
            taken.append(match.span())
    return windows


def _window(year: int, month: int, day: str | None, part: str | None) -> tuple[dt.date, dt.date] | None:
    days_in_month = calendar.monthrange(year, month)[1]
    if day is not None:
        if not 1 <= int(day) <= days_in_month:
            return None
        date = dt.date(year, month, int(day))
        return date - SLACK, date + SLACK
    lo, hi = _PARTS.get((part or "").lower(), (1, days_in_month))
    return dt.date(year, month, lo), dt.date(year, month, min(hi, days_in_month))
