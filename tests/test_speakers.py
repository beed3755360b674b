import pytest

from rag.speakers import asked_speaker, names_speaker, speaker_at, speaker_turns

KREMLIN = (
    "The meeting took place in the Kremlin. President of Russia Vladimir Putin: Good afternoon, colleagues. "
    "Deputy Chief of Staff of the Presidential Executive Office– Presidential Press Secretary Dmitry Peskov: "
    "Let us begin. Question: How do you assess the talks? Vladimir Putin: Positively. "
    "Foreign Minister Sergei Lavrov Lavrov SergeiForeign Minister of Russia: We sent our proposals."
)
WHITE_HOUSE = "1:05 P.M. EST\n\nMS. PSAKI: Hi, everyone.\n\nQ    Thank you. Jen, on Russia?\n\nMS. JEAN-PIERRE: Go ahead."


def _who(text, phrase):
    return speaker_at(speaker_turns(text), text.index(phrase))


def test_inline_transcript_labels():
    assert _who(KREMLIN, "took place") == ""  # before any label: nobody is named, so nobody is guessed
    assert _who(KREMLIN, "Good afternoon") == "Vladimir Putin"
    assert _who(KREMLIN, "Let us begin") == "Dmitry Peskov"
    assert _who(KREMLIN, "assess the talks") == ""  # a reporter's question ends Peskov's turn
    assert _who(KREMLIN, "Positively") == "Vladimir Putin"
    assert _who(KREMLIN, "We sent") == ""  # a garbled label: a new turn whose speaker we cannot read


def test_first_label_after_the_transcript_separator():
    briefing = "Yury Ushakov briefed the media. * * * Aide to the President Yury Ushakov: Good evening! The call lasted an hour."
    assert _who(briefing, "The call lasted") == "Yury Ushakov"
    speech = ("Putin took part in the meeting. * * * Speech at the expanded meeting of the Foreign Ministry Board "
              "President of Russia Vladimir Putin: Mr Lavrov, colleagues. Our warnings have had an effect.")
    assert _who(speech, "Our warnings") == "Vladimir Putin"
    assert _who(speech, "Putin took part") == ""
    assert _who("The visit ended. * * * The talks will resume in May.", "talks will") == ""


def test_upper_case_labels_on_their_own_line():
    assert _who(WHITE_HOUSE, "Hi, everyone") == "Ms. Psaki"
    assert _who(WHITE_HOUSE, "on Russia") == ""
    assert _who(WHITE_HOUSE, "Go ahead") == "Ms. Jean-Pierre"


def test_prose_names_no_speaker():
    text = "Vladimir Putin said on Tuesday: talks are over. Note: the talks resume Monday. Ukraine and Russia: a history."
    assert [speaker for _, speaker in speaker_turns(text)] == [""]  # "Ukraine and Russia:" ends a turn, names no one


@pytest.mark.parametrize(("question", "surname"), [
    ("What did Putin tell Rossiya TV about the exercise?", "Putin"),
    ("How did Foreign Minister Sergei Lavrov describe the answers?", "Lavrov"),
    ("What did Jake Sullivan say about the sanctions?", "Sullivan"),
    ("What was in Zelensky's address to Congress?", "Zelensky"),
    ("Why does Russia object to NATO expansion?", ""),
    ("What did the talks in Geneva achieve?", ""),
])
def test_the_person_whose_words_a_question_asks_for(question, surname):
    assert asked_speaker(question) == surname


def test_a_label_names_a_speaker_in_either_spelling():
    assert names_speaker("Zelensky", "Volodymyr Zelenskyy") and names_speaker("Putin", "Vladimir Putin")
    assert not names_speaker("Putin", "Ms. Psaki") and not names_speaker("Li", "Lithuania")
