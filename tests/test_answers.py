import pytest

from rag.answers import expected_answer, only_attribution


@pytest.mark.parametrize("question, holds, lacks", [
    ("When was construction of the pipeline finished?", "It was completed late last year.",
     "The pipeline would send Russian gas under the Baltic Sea."),
    ("How many Stinger systems did the package include?", "It includes 800 Stinger anti-aircraft systems.",
     "The new assistance package includes:"),
    ("How often had Sullivan spoken with Yermak?", "Sullivan has spoken seven times with Yermak.",
     "Milley has spoken with the commander."),
    ("Which American diplomat gave the starkest warning?", "The warning came from Michael Carpenter, the US envoy.",
     "The warning was the starkest of the week."),
    ("Who led Moscow's delegation?", "The delegation was led by deputy foreign minister Sergei Ryabkov.",
     "Moscow's delegation arrived in Geneva."),
])
def test_the_kind_of_answer_a_question_expects(question, holds, lacks):
    expected = expected_answer(question)
    assert expected.search(holds)
    assert not expected.search(lacks)


@pytest.mark.parametrize("question", ["Why does Russia object to NATO expansion?",
                                      "What did Lavrov say about the talks?"])
def test_questions_whose_wording_expects_nothing_in_particular(question):
    assert expected_answer(question) is None


def test_sentences_that_only_say_who_said_it():
    assert only_attribution("This was stated by President of Ukraine Volodymyr Zelenskyy.")
    assert only_attribution("It was announced by the President during a briefing.")
    assert not only_attribution("This was a stated aim of the talks, the President said.")
