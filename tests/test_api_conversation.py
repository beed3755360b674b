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
    # A plain phrase, or a name with no name to replace, is joined on.
    ("Why did Russia send troops to Ukraine?", "what about the sanctions?",
     "Why did Russia send troops to Ukraine and the sanctions?"),
    ("What did Biden say about sanctions?", "and Putin?", "What did Biden say about sanctions and Putin?"),
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
