"""rag.conversation: which follow-ups are resolved against the previous question, and into what."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag import MAX_QUESTION_CHARS
from rag.conversation import Turn, resolve_question


def asked(*questions: str) -> list[Turn]:
    return [Turn("user", q) for q in questions]


@pytest.mark.parametrize(("previous", "question", "searched"), [
    # A new name takes the place of the name that ends the previous question.
    ("Why did Russia send troops to Ukraine?", "and what about Kazakhstan?", "Why did Russia send troops to Kazakhstan?"),
    ("Why did Russia send troops to Ukraine?", "And in Belarus?", "Why did Russia send troops to Belarus?"),
    ("What happened in Kazakhstan?", "how about Belarus", "What happened in Belarus?"),
    ("Which sanctions were announced by the EU?", "what about the US?", "Which sanctions were announced by the US?"),
    # Or of the named phrase a preposition governs at the end: joining the new name on searched the old
    # topic with it, and the old topic's passages came first.
    ("Why does Russia object to NATO expansion?", "Georgia?", "Why does Russia object to Georgia?"),
    ("Why does Russia object to NATO expansion?", "and what about Kazakhstan?", "Why does Russia object to Kazakhstan?"),
    # A plain phrase with nothing to trade is joined on.
    ("Why did Russia send troops to Ukraine?", "what about the sanctions?",
     "Why did Russia send troops to Ukraine and the sanctions?"),
    # A name takes the place of the previous question's only name, wherever it stands.
    ("What did Biden say about sanctions?", "and Putin?", "What did Putin say about sanctions?"),
    # Pointing back, or nothing of its own: searched with the previous question.
    ("What did Lavrov say about the talks?", "Why did he say that?",
     "What did Lavrov say about the talks? Why did he say that?"),
    ("Did Russia send paratroopers to Kazakhstan?", "why?", "Did Russia send paratroopers to Kazakhstan? why?"),
    # Questions that stand on their own stay as they are.
    ("What did Lavrov say about the talks?", "Who is Keir Giles?", "Who is Keir Giles?"),
    ("What did Lavrov say?", "Is it true that NATO promised not to expand east?",
     "Is it true that NATO promised not to expand east?"),
    ("What did Lavrov say?", "And what did the White House answer to the Russian demands for security guarantees?",
     "And what did the White House answer to the Russian demands for security guarantees?"),
])
def test_follow_ups_are_resolved_against_the_previous_question(previous, question, searched):
    assert resolve_question(question, asked(previous)) == searched


@pytest.mark.parametrize(("previous", "question", "searched"), [
    # A new date takes the place of the previous question's date, and its frame ("the ... call") adds nothing.
    ("How many corridors did Kyiv open on March 14?", "and on March 20?", "How many corridors did Kyiv open on March 20?"),
    ("What did Lavrov tell Blinken on January 21?", "and in the February 14 call?",
     "What did Lavrov tell Blinken on February 14?"),
    # A name does not take a date's place; with a date of its own, both are traded.
    ("What did Putin tell Olaf Scholz about the summit when they spoke on December 21?", "and Macron, same day?",
     "What did Putin tell Macron about the summit when they spoke on December 21?"),
    ("What did Putin propose to Naftali Bennett on March 2?", "what about to Scholz on March 4?",
     "What did Putin propose to Scholz on March 4?"),
    # A phrase led by a preposition the previous question uses takes the place of what it governs there.
    ("What did the delegations agree at their second round of talks?", "and at the first round?",
     "What did the delegations agree at the first round of talks?"),
    # A phrase sharing a word with the previous question takes the place of the words leading to it.
    ("How much new humanitarian aid did Harris announce in Warsaw?", "and the military aid?",
     "How much military aid did Harris announce in Warsaw?"),
    # A person asked about through a pronoun, with someone new: asked of the previous question's first name.
    ("What did Biden commend Turkey for?", "and what did he warn Xi about?", "what did Biden warn Xi about?"),
    # A few words asking about nothing new lean on the previous question.
    ("What did Biden threaten Putin with in the December 30 call?", "how did Putin respond?",
     "What did Biden threaten Putin with in the December 30 call? how did Putin respond?"),
])
def test_follow_ups_trade_what_they_name_for_its_counterpart(previous, question, searched):
    assert resolve_question(question, asked(previous)) == searched


def test_a_name_takes_the_place_of_the_name_the_sources_mention_least():
    # Putin is named in nearly every passage, Tokayev in few: the follow-up swaps the one the question is about.
    rarity = {"Kassym-Jomart Tokayev": 6.0, "Putin": 1.8}.get
    previous = asked("What did Kassym-Jomart Tokayev propose to Putin in their phone call?")
    assert resolve_question("and Lukashenko?", previous, rarity) == "What did Lukashenko propose to Putin in their phone call?"
    # Without rarities (or with names about as common), the last name is the topic.
    assert resolve_question("and Lukashenko?", previous) == "What did Kassym-Jomart Tokayev propose to Lukashenko in their phone call?"


def test_without_a_previous_question_nothing_changes():
    assert resolve_question("and what about Kazakhstan?") == "and what about Kazakhstan?"
    only_answers = [Turn("assistant", "Russia sent paratroopers to Kazakhstan."), Turn("user", "  ")]
    assert resolve_question("and Belarus?", only_answers) == "and Belarus?"


def test_a_chain_of_follow_ups_keeps_its_topic():
    turns = asked("Why did Russia send troops to Ukraine?", "and what about Kazakhstan?")
    assert resolve_question("and Belarus?", turns) == "Why did Russia send troops to Belarus?"


def test_the_assistants_turns_do_not_set_the_topic():
    turns = [Turn("user", "What happened in Kazakhstan?"),
             Turn("assistant", "[1] President Putin sent paratroopers to Kazakhstan."), ]
    assert resolve_question("and in Belarus?", turns) == "What happened in Belarus?"


def test_a_merge_longer_than_a_question_may_be_is_not_made():
    previous = "Why did Russia send troops to " + "very " * 400 + "far Ukraine?"
    assert resolve_question("why?", asked(previous)) == "why?"


@given(st.text(max_size=300), st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=300)),
                                       max_size=4))
def test_resolving_is_total_and_bounded(question, turns):
    conversation = [Turn(role, text) for role, text in turns]
    searched = resolve_question(question, conversation)
    assert searched == resolve_question(question, conversation)  # deterministic
    assert searched == question or (question.strip() and len(searched) <= MAX_QUESTION_CHARS)
