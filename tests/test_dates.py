import datetime as dt

from rag.dates import after_the_sources, date_windows

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


def test_questions_only_about_after_the_newest_source():
    assert after_the_sources("What did Putin say in his Victory Day speech on 9 May 2022?", LAST) == dt.date(2022, 5, 8)
    assert after_the_sources("How did Kyiv respond in early April 2022?", LAST) == dt.date(2022, 4, 1)
    assert after_the_sources("What mobilisation was announced in September 2022?", LAST) == dt.date(2022, 9, 1)
    # A month the sources reach, a date without its year, or one date inside the period: the sources may answer.
    assert after_the_sources("What did Biden say at the end of March 2022?", LAST) is None
    assert after_the_sources("What happened in early April?", LAST) is None
    assert after_the_sources("How did the view of March 2022 change by May 2022?", LAST) is None
    assert after_the_sources("How do the sanctions differ from those of 2014?", LAST) is None
