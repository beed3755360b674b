import datetime as dt

from rag.dates import date_windows

FIRST, LAST = dt.date(2021, 9, 1), dt.date(2022, 3, 31)


def test_day_month_and_part_of_month():
    assert date_windows("the December 30 phone call", FIRST, LAST) == [(dt.date(2021, 12, 29), dt.date(2021, 12, 31))]
    assert date_windows("on 8 January 2022", FIRST, LAST) == [(dt.date(2022, 1, 7), dt.date(2022, 1, 9))]
    assert date_windows("protests in early January", FIRST, LAST) == [(dt.date(2022, 1, 1), dt.date(2022, 1, 10))]
    assert date_windows("their December 2021 video call", FIRST, LAST) == [(dt.date(2021, 12, 1), dt.date(2021, 12, 31))]


def test_words_that_only_look_like_months_are_not_dates():
    assert date_windows("May I ask about sanctions? Troops march on.", FIRST, LAST) == []
    assert date_windows("What happened on February 30?", FIRST, LAST) == []
    assert date_windows("On July 4", FIRST, LAST) == []  # outside the indexed period
