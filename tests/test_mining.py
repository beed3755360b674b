"""Mining reporters' questions and their answers from transcripts, and blanking the questions out."""

from rag import Document
from rag.mining import mine_pairs, without_questions

BRIEFING = """MS. PSAKI: Good afternoon, everyone.

Q Thank you. Can you tell us whether the President will meet with President Zelensky before the summit in Geneva?

MS. PSAKI: He spoke with him on Sunday and they agreed to meet in the coming weeks, but no date is set.

Q And sanctions?

MS. PSAKI: We have nothing new.

Q Did the Secretary of State raise the pipeline with his German counterpart during the call on Monday morning?

THE PRESIDENT: He did, and the Germans were clear with him."""

KREMLIN = ("Dmitry Peskov: Thank you. Question: Could you tell us what the President discussed with the French "
           "leader during their long conversation? Dmitry Peskov: They spoke about security guarantees at length.")


def test_each_reporters_question_of_eight_words_or_more_is_paired_with_the_answer_after_it():
    doc = Document(text=BRIEFING)
    pairs = mine_pairs(doc)
    assert [p.question[:30] for p in pairs] == ["Thank you. Can you tell us whe", "Did the Secretary of State rai"]
    first, second = pairs
    assert doc.text[first.answer_start : first.answer_end].startswith("MS. PSAKI: He spoke with him on Sunday")
    assert "And sanctions" not in doc.text[first.answer_start : first.answer_end]
    assert (first.speaker, second.speaker) == ("Ms. Psaki", "The President")  # as rag.speakers names them
    assert doc.text[second.answer_start : second.answer_end].rstrip().endswith("the Germans were clear with him.")


def test_kremlin_questions_are_mined_too():
    (pair,) = mine_pairs(Document(text=KREMLIN))
    assert pair.question.startswith("Could you tell us what the President discussed")
    assert KREMLIN[pair.answer_start:].startswith("Dmitry Peskov: They spoke about security guarantees")


def test_blanking_the_questions_keeps_every_offset():
    doc = Document(text=BRIEFING, title="Press briefing")
    pairs = mine_pairs(doc)
    blanked = without_questions(doc, pairs)
    assert len(blanked.text) == len(doc.text) and blanked.title == doc.title
    assert "Zelensky" not in blanked.text and "pipeline" not in blanked.text
    assert all(blanked.text[p.answer_start : p.answer_end] == doc.text[p.answer_start : p.answer_end] for p in pairs)
