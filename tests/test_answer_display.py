"""What an answer shows and says (issue 18): a question that only names someone the sources quote, the
source's Markdown read rather than shown, one highlighted sentence shown once, and a grouped answer's fields."""

import pytest

from api.models import AnswerOut
from rag import Document, Engine, build_index
from rag.sentences import heading_lead, prose, prose_map, shown_span
from tests.test_retrieve import two_source_engine  # noqa: F401 (a fixture)

# As the White House texts are stored: Markdown converted from HTML, hard-wrapped, "  \n" breaks.
BRIEFING = (
    "### Remarks by President Biden on Russia and Ukraine\n"
    "\n"
    "*East Room*\n"
    "\n"
    "2:31 P.M. EST  \n"
    "  \n"
    "THE PRESIDENT:\xa0 Good afternoon.\xa0 The **Nord Stream 2** pipeline will not move forward if\n"
    "Russian tanks cross the border, and the \\[Treasury Department\\] will cut off\n"
    "the largest Russian banks from the dollar.  \n"
    "  \n"
    "**I. Sanctions**  \n"
    "*Export controls on semiconductors would hit the Russian defence industry hard,*\n"
    "as the [fact sheet](https://bidenwhitehouse.archives.gov/briefing-room/fact-sheet/) explains.  \n"
    "  \n"
    "### Senators\n"
    "\n"
    "- Sen. Jeanne Shaheen\n"
    "- Sen. Rob Portman\n"
)
MARKS = ("**", "\\[", "\\]", "###", "](http", "*East", "Room*", "  \n")


def test_prose_reads_the_markdown_and_joins_wrapped_lines():
    shown = prose(BRIEFING)
    for mark in MARKS:
        assert mark not in shown, mark
    assert "The Nord Stream 2 pipeline will not move forward if Russian tanks cross the border" in shown
    assert "the [Treasury Department] will cut off the largest Russian banks" in shown
    assert "as the fact sheet explains." in shown
    assert shown.startswith("Remarks by President Biden on Russia and Ukraine\n\nEast Room\n\n2:31 P.M. EST\n\n")
    assert shown.endswith("Senators\n\n• Sen. Jeanne Shaheen\n• Sen. Rob Portman")
    # Marks that only look like Markdown stay: the Kremlin's section break, a bare asterisk, snake_case.
    assert prose("the documents. * * * President Putin: 2 * 3, a_b_c") == "the documents. * * * President Putin: 2 * 3, a_b_c"


@pytest.mark.parametrize("cut", [(0, 40), (57, 131), (150, 260), (300, len(BRIEFING)), (200, 201)])
def test_a_slice_cut_anywhere_maps_into_what_is_shown(cut):
    # A passage starts and ends anywhere, inside a bold run or a link: what is shown of a span of it is
    # the part of the shown text its characters became, in order.
    text = BRIEFING[cut[0]:cut[1]]
    shown, origin = prose_map(text)
    assert len(origin) == len(shown) and origin == sorted(origin)
    assert all(0 <= o <= len(text) for o in origin)
    assert "**" not in shown and "\\[" not in shown
    start = text.find("Nord")
    if start >= 0:
        lo, hi = shown_span(origin, start, len(text))
        assert shown[lo:].startswith("Nord") and hi == len(shown)


def test_a_heading_line_is_not_part_of_the_sentence():
    assert heading_lead("### Senators") == len("### Senators")
    assert heading_lead("**I. Sanctions**  \n*Export controls on chips*") == len("**I. Sanctions**  \n")
    assert heading_lead("The **Nord Stream 2** pipeline.") == 0


@pytest.fixture(scope="module")
def briefing_engine(tmp_path_factory, embedder, chunker, settings):
    path = tmp_path_factory.mktemp("briefing")
    build_index(path, [Document(text=BRIEFING, title="Remarks", source="The White House", published="2022-02-15")],
                embedder, chunker)
    return Engine.open(path, settings=settings, embedder=embedder)


@pytest.mark.parametrize("question", [
    "What will happen to Nord Stream 2 if Russian tanks cross the border?",
    "Which export controls would hit the Russian defence industry?",
    "Remarks by President Biden on Russia and Ukraine",
])
def test_passages_show_clean_prose_and_cite_exact_offsets(briefing_engine, question):
    answer = briefing_engine.ask(question, top_k=3)
    assert not answer.abstained
    for passage in answer.passages:
        document = briefing_engine.document(passage.doc_id)
        # The citation stays exact: offsets into the stored text, which keeps its Markdown.
        assert document.text[passage.char_start:passage.char_end] == passage.text
        assert document.text[passage.sentence_start:passage.sentence_end] == passage.sentence
        assert passage.display_text == prose(passage.text)
        # What the reader sees is prose: no Markdown marks, no line broken mid-sentence.
        for mark in MARKS:
            assert mark not in passage.display_text and mark not in passage.display_sentence, mark
        assert passage.display_sentence and passage.display_sentence in passage.display_text
        assert passage.display_sentence == prose(passage.sentence)
        # A heading is never what is highlighted, alone or leading the sentence.
        assert not passage.sentence.lstrip().startswith(("#", "**I."))


def test_a_question_naming_someone_the_sources_quote_is_answered(seed_engine):
    # "Keir Giles" embeds far from the passage that quotes him (cosine 0.06, under RAG_ABSTAIN_BELOW),
    # but that passage holds every word asked: it answers.
    answer = seed_engine.ask("Who is Keir Giles?")
    assert not answer.abstained
    assert "Keir Giles" in answer.passages[0].sentence
    assert all("Keir Giles" in p.text for p in answer.passages)
    # A name the sources do not hold in full, or other words they never put beside it, still declines.
    assert seed_engine.ask("Who is Keir Starmer?").abstained
    assert seed_engine.ask("What is a good recipe for banana bread?").abstained


def test_passages_highlighting_the_same_sentence_are_copies(tmp_path, embedder, chunker, settings):
    # Two reports that share one sentence, the one that answers, and little else: the reader would see
    # the same highlighted sentence twice.
    shared = "The Nord Stream 2 pipeline cost 11 billion dollars and runs under the Baltic Sea to Germany."
    docs = [
        Document(text="Farmers in Iowa expect a record harvest of corn and soybeans this autumn, the ministry said. "
                      "Rain in August helped the crops in most counties. " + shared,
                 title="Harvest", source="Agency A", published="2022-01-10"),
        Document(text="The orchestra opened its winter season with Mahler's second symphony to a full hall. "
                      "Critics praised the young conductor's tempo. " + shared,
                 title="Concert", source="Agency B", published="2022-01-11"),
    ]
    build_index(tmp_path, docs, embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    answer = engine.ask("How much did the Nord Stream 2 pipeline cost?", top_k=5)
    assert [p.sentence for p in answer.passages] == [shared]


def test_a_grouped_answer_says_how_many_passages_and_per_group(two_source_engine):
    grouped = two_source_engine.ask("sanctions on Russian banks", top_k=5, group_by="source", per_group=1)
    assert (grouped.top_k, grouped.per_group) == (5, 1)
    assert grouped.returned == len(grouped.passages) == len(grouped.groups) == 2
    plain = two_source_engine.ask("sanctions on Russian banks", top_k=1)
    assert (plain.per_group, plain.returned) == (0, 1)
    declined = two_source_engine.ask("What is a good recipe for banana bread?")
    assert (declined.returned, declined.passages) == (0, [])
    # The HTTP answer carries them too.
    shown = AnswerOut(**{**grouped.to_dict(), "searched": grouped.question}).model_dump()
    assert (shown["top_k"], shown["per_group"], shown["returned"]) == (5, 1, 2)
    assert {"display_text", "display_sentence"} <= set(shown["passages"][0])
