import datetime as dt

import pytest

from rag import BadQuery, Document, Engine, Filters, build_index
from rag.sides import asks_each_side

NATO_PROMISES = "the West tricked the former Soviet Union by breaking promises"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25", "rerank"])
@pytest.mark.parametrize(
    ("question", "evidence"),
    [
        ("Why does Russia object to NATO expansion?", NATO_PROMISES),
        ("Who warned that the drumbeat of war was getting loud?", "Michael Carpenter"),
        ("How much did the Nord Stream 2 pipeline cost?", "$11 billion Nord Stream 2 pipeline"),
        ("Which motorcycle club joined the parade in Republika Srpska?", "Night Wolves"),
    ],
)
def test_each_mode_finds_the_passage(seed_engine, mode, question, evidence):
    answer = seed_engine.ask(question, top_k=3, mode=mode)
    assert not answer.abstained
    assert any(evidence in p.text for p in answer.passages), [p.text[:80] for p in answer.passages]


def test_passages_are_verbatim_with_offsets_and_the_best_sentence(seed_engine):
    answer = seed_engine.ask("Why does Russia object to NATO expansion?", top_k=3)
    doc = seed_engine.document(answer.passages[0].doc_id)
    for rank, passage in enumerate(answer.passages, 1):
        assert (passage.rank, passage.citation) == (rank, f"[{rank}]")
        assert doc.text[passage.char_start : passage.char_end] == passage.text
        assert doc.text[passage.sentence_start : passage.sentence_end] == passage.sentence
        assert passage.char_start <= passage.sentence_start < passage.sentence_end <= passage.char_end
        assert passage.published == "2022-01-16"
    assert answer.as_of == "2022-01-16"
    hit = next(p for p in answer.passages if NATO_PROMISES in p.text)
    assert "Nato" in hit.sentence and "expan" in hit.sentence


def test_off_topic_questions_abstain(seed_engine):
    answer = seed_engine.ask("What is a good recipe for banana bread?")
    assert answer.abstained and answer.passages == []


def test_an_empty_index_abstains(tmp_path, embedder, chunker, settings):
    build_index(tmp_path, [], embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    for mode in ("hybrid", "dense", "bm25"):
        assert engine.ask("Why does Russia object to NATO expansion?", mode=mode).abstained


@pytest.fixture(scope="module")
def two_source_engine(tmp_path_factory, embedder, chunker, settings):
    shared = "Officials said the sanctions package targets Russian banks and export controls on chips."
    docs = [
        Document(text="Moscow rejected the proposal on NATO. " + shared, title="Wire A", source="Agency A",
                 published="2022-01-10"),
        Document(text="In Washington the reaction was swift. " + shared, title="Wire B", source="Agency B",
                 published="2022-02-20"),
        Document(text="Kyiv asked for air defence systems and more sanctions on Russian banks.", title="Kyiv",
                 source="Agency B", published="2022-03-01"),
    ]
    path = tmp_path_factory.mktemp("two-sources")
    build_index(path, docs, embedder, chunker)
    return Engine.open(path, settings=settings, embedder=embedder)


def test_source_and_date_filters(two_source_engine):
    ask = lambda f: {p.title for p in two_source_engine.ask("sanctions on Russian banks", top_k=5, filters=f).passages}  # noqa: E731
    assert ask(Filters(source=("agency a",))) == {"Wire A"}
    assert ask(Filters(published_from=dt.date(2022, 2, 1))) == {"Wire B", "Kyiv"}
    assert ask(Filters(published_to=dt.date(2022, 2, 20), source=("Agency B",))) == {"Wire B"}
    # Filters that could only decline are refused, naming the field: a source the index does not have, a
    # range that holds no document, an inverted range.
    with pytest.raises(BadQuery, match="^source: the index has no source named 'Nobody' \\(it has 'Agency A', 'Agency B'\\)"):
        two_source_engine.ask("sanctions", filters=Filters(source=("Nobody",)))
    with pytest.raises(BadQuery, match="^published_from: no document of these sources is published in this date range"):
        two_source_engine.ask("sanctions", filters=Filters(source=("Agency A",), published_from=dt.date(2022, 3, 1)))
    with pytest.raises(BadQuery, match="^published_to: must not be before published_from"):
        two_source_engine.ask("sanctions", filters=Filters(published_from=dt.date(2022, 3, 1),
                                                           published_to=dt.date(2022, 2, 1)))


def test_copies_of_a_passage_are_returned_once(two_source_engine):
    answer = two_source_engine.ask("Which banks do the sanctions target, and what export controls?", top_k=5)
    sentences = [p.sentence for p in answer.passages]
    assert len(sentences) == len(set(sentences)) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"question": "   "}, "question"), ({"question": "x" * 2001}, "question"),
     ({"question": "ok", "top_k": 0}, "top_k"), ({"question": "ok", "mode": "magic"}, "mode")],
)
def test_bad_queries_name_the_field(seed_engine, kwargs, field):
    with pytest.raises(BadQuery, match=f"^{field}: "):
        seed_engine.ask(**kwargs)


@pytest.mark.parametrize("question", ["Что сказал Путин о НАТО?", "NATO 🚀🔥", "NATO\x00expansion", "NATO \udcff"])
def test_unusual_text_is_answered_not_crashed(seed_engine, question):
    seed_engine.ask(question)


def test_transcript_passages_carry_their_speaker(tmp_path, embedder, chunker, settings):
    transcript = (
        "The news conference was broadcast live. Vladimir Putin: We were promised that NATO would not move "
        "an inch to the east. They deceived us. Dmitry Peskov: Next question, please. Question: What about gas "
        "supplies to Europe this winter? Vladimir Putin: Gas keeps flowing under the long-term contracts."
    )
    build_index(tmp_path, [Document(text=transcript, title="News conference")], embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    [passage] = engine.ask("What was Russia promised about NATO moving east?", top_k=1).passages
    assert passage.sentence.startswith("Vladimir Putin: We were promised")
    assert passage.speaker == "Vladimir Putin"


def test_a_question_for_someones_words_prefers_where_they_speak(tmp_path, embedder, chunker, settings):
    docs = [Document(text=f"Ms. Psaki said on {day} that President Putin has massed troops on the border of Ukraine "
                          "and that President Putin could still choose diplomacy over an invasion.",
                     title=f"Press briefing {day}", source="Briefings") for day in ("Monday", "Tuesday", "Friday")]
    docs.append(Document(text="The meeting opened at noon. Vladimir Putin: Our troops are on our own territory, "
                              "and we are ready for diplomacy if our proposals are heard.",
                         title="Meeting with the Security Council", source="Kremlin"))
    build_index(tmp_path, docs, embedder, chunker)
    # The fused ranking's speaker rule, which the learned reranker (rag/reranking.py) reorders after.
    plain = settings.model_copy(update={"source_penalty": 0.0, "reranker": "none"})
    engine = Engine.open(tmp_path, settings=plain, embedder=embedder)
    about = engine.ask("What troops has Putin massed on the border with Ukraine?", top_k=4).passages
    assert about[0].source == "Briefings"  # without a speaker asked for, the briefings rank first
    own = engine.ask("What did Putin say about troops on the border with Ukraine?", top_k=4).passages
    assert own[0].source == "Kremlin" and own[0].speaker == "Vladimir Putin"


def test_names_match_across_spellings(tmp_path, embedder, chunker, settings):
    docs = [
        Document(text="Shelling was reported near Lugansk and across the Donbass on Thursday.", source="Moscow"),
        Document(text="Kyiv announced new evacuation corridors from Kharkiv.", source="Kyiv"),
        Document(text="Grain exports through the Black Sea ports resumed.", source="Ports"),
    ]
    build_index(tmp_path, docs, embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    for mode in ("bm25", "dense"):
        assert engine.ask("shelling in Luhansk and the Donbas", top_k=1, mode=mode).passages[0].source == "Moscow"
        assert engine.ask("evacuation corridors from Kharkov, Kiev says", top_k=1, mode=mode).passages[0].source == "Kyiv"
    passage = engine.ask("shelling near Luhansk", top_k=1, mode="bm25").passages[0]
    assert "Lugansk" in passage.text  # the text stays as the source wrote it


def test_grouped_by_source(two_source_engine):
    answer = two_source_engine.ask("sanctions on Russian banks", group_by="source", per_group=2)
    assert answer.group_by == "source"
    assert [g.source for g in answer.groups] in (["Agency A", "Agency B"], ["Agency B", "Agency A"])
    for group in answer.groups:
        cited = [p for p in answer.passages if p.citation in group.citations]
        assert cited and all(p.source == group.source for p in cited) and len(cited) <= 2
        assert group.published_from <= group.published_to
    assert [p.rank for p in answer.passages] == list(range(1, len(answer.passages) + 1))


def test_grouping_lists_sources_that_do_not_answer(two_source_engine):
    answer = two_source_engine.ask("Kyiv asked for air defence systems", group_by="source", per_group=1)
    assert [g.source for g in answer.groups][0] == "Agency B"
    unrelated = two_source_engine.ask("What is a good recipe for banana bread?", group_by="source")
    assert unrelated.abstained and unrelated.groups == [] and sorted(unrelated.not_addressed) == ["Agency A", "Agency B"]


def test_documents_without_indexable_words(tmp_path, embedder, chunker, settings):
    build_index(tmp_path, [Document(text="!!! ??? ...")], embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    assert engine.ask("!!!", mode="bm25").abstained


def test_a_date_in_the_question_finds_the_document_of_that_day(tmp_path, embedder, chunker, settings):
    docs = [
        Document(text=f"Officials briefed reporters on the talks with Russia. Item {i}.", title="Background call",
                 published=f"2022-01-{day:02d}")
        for i, day in enumerate((3, 8, 12, 20, 27))
    ]
    build_index(tmp_path, docs, embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    assert engine.ask("What did officials say about the talks on the January 12 call?", top_k=1).passages[0].published == "2022-01-12"


def test_one_prolific_source_does_not_fill_the_answer(tmp_path, embedder, chunker, settings):
    angles = ("eastward enlargement", "new members on its border", "missile sites in Poland", "troops in the Baltics",
              "the door left open to Ukraine")
    docs = [Document(text=f"Moscow objects to NATO expansion: {angle} threatens Russia, the ministry said.",
                     title=f"Statement {i}", source="Prolific") for i, angle in enumerate(angles)]
    docs.append(Document(text="Washington replied that NATO expansion is a choice for each nation, not for Moscow.",
                         title="Reply", source="Other"))
    build_index(tmp_path, docs, embedder, chunker)
    question = "What is said about NATO expansion threatening Russia?"
    plain = Engine.open(tmp_path, settings=settings.model_copy(update={"source_penalty": 0.0}), embedder=embedder)
    assert {p.source for p in plain.ask(question, top_k=3).passages} == {"Prolific"}  # what the fused order alone gives
    diverse = Engine.open(tmp_path, settings=settings, embedder=embedder)
    top = diverse.ask(question, top_k=3).passages
    assert {p.source for p in top} == {"Prolific", "Other"} and top[0].source == "Prolific"
    assert {p.source for p in diverse.ask(question, top_k=3, filters=Filters(source=("Prolific",))).passages} == {"Prolific"}


def test_a_question_for_each_side_hears_every_source_before_any_twice(tmp_path, embedder, chunker, settings):
    docs = [Document(text=f"Moscow objects to NATO expansion: {angle} threatens Russia, the ministry said.",
                     title=f"Statement {i}", source="Moscow") for i, angle in enumerate(
                         ("eastward enlargement", "new members on its border", "missile sites in Poland"))]
    docs += [Document(text="Washington said NATO expansion is a choice for each nation, not for Moscow.",
                      title="Reply", source="Washington"),
             Document(text="Kyiv said its bid to join NATO is a matter for the Ukrainian people.",
                      title="Address", source="Kyiv")]
    build_index(tmp_path, docs, embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings.model_copy(update={"source_penalty": 0.0}), embedder=embedder)
    assert [p.source for p in engine.ask("What threatens Russia in NATO expansion?", top_k=3).passages] == ["Moscow"] * 3
    sides = [p.source for p in engine.ask("What did each side say about NATO expansion?", top_k=4).passages]
    assert sorted(sides[:3]) == ["Kyiv", "Moscow", "Washington"] and sides[3] == "Moscow"


@pytest.mark.parametrize(("question", "each_side"), [
    ("How did each side describe the talks?", True),
    ("What did both sides say about the ceasefire?", True),
    ("How did Moscow, Kyiv and Washington characterise the sanctions?", True),
    ("How was the deployment presented by Moscow, by Washington and by the op-ed?", True),
    ("What did Moscow say about Washington's proposal?", False),
    ("Which side fired first?", False),
    ("How did the sanctions hit Russia and Belarus?", False),
])
def test_questions_for_each_sides_view_are_told_apart(question, each_side):
    assert asks_each_side(question) is each_side


def test_a_question_about_after_the_sources_is_declined_with_the_reason(two_source_engine):
    answer = two_source_engine.ask("What sanctions on Russian banks were announced in May 2022?", group_by="source")
    assert answer.abstained and answer.passages == [] and answer.groups == []
    assert answer.note == "The sources end on 2022-03-01; they cannot report what happened in May 2022."
    within = two_source_engine.ask("What sanctions on Russian banks were announced in February 2022?")
    assert not within.abstained and within.note == ""


def test_a_name_no_source_mentions_is_said_and_declines_a_weak_answer(two_source_engine):
    weak = two_source_engine.ask("What did Moscow say about the cruiser Moskva?", group_by="source")
    assert weak.abstained and weak.groups == [] and weak.note == "The sources never mention Moskva."
    assert sorted(weak.not_addressed) == ["Agency A", "Agency B"]
    close = two_source_engine.ask("Did Tallinn join the sanctions package on Russian banks and export controls on chips?")
    assert not close.abstained and close.note == "The sources never mention Tallinn."
    assert two_source_engine.ask("What did Kyiv ask for?").note == ""


def test_a_sources_group_spreads_over_its_documents(tmp_path, embedder, chunker, settings):
    speech = (
        "NATO expansion threatens Russia: the alliance has moved its bases right up to our borders. In 1990 we were "
        "promised it would not move an inch to the east, and five waves of enlargement followed. Missile launchers in "
        "Romania and Poland can be switched to offensive weapons in minutes. We raised this in every forum. "
        "Turning to the economy, the harvest this autumn was good and grain exports grew. Farmers received new "
        "machinery, credit rates for agriculture fell, and rural roads are being repaired in forty regions. Gas "
        "supplies to consumers at home were steady through the winter, and the budget closed with a surplus. "
        "Now about culture: theatres reopened, the film festival drew record audiences, and libraries were "
        "digitised in many towns. Schools received computers, and teachers' pay rose again this year. "
        "Back to security. If Ukraine joins NATO, strike systems could reach Moscow in five minutes, so further "
        "expansion of the alliance is a direct threat to Russia, and we demand legal guarantees that it will stop."
    )
    docs = [Document(text=speech, title="Long speech on NATO expansion", source="Moscow"),
            Document(text="Officials in Moscow also spoke about the alliance and the borders of Russia.",
                     title="Short statement", source="Moscow")]
    build_index(tmp_path, docs, embedder, chunker)
    question = "Why does Moscow say NATO expansion threatens Russia?"
    titles = lambda s: [p.title for p in Engine.open(tmp_path, settings=s, embedder=embedder)  # noqa: E731
                        .ask(question, group_by="source", per_group=2).passages]
    assert titles(settings.model_copy(update={"source_penalty": 0.0})) == ["Long speech on NATO expansion"] * 2
    assert sorted(titles(settings)) == ["Long speech on NATO expansion", "Short statement"]


def test_rare_words_weigh_more_in_choosing_the_sentence():
    from rag.lexical import Postings, idf_weights, tokenize
    from rag.storage import TermStats

    postings = Postings.build(tokenize(["Minsk talks resumed.", "The talks resumed.", "Talks went on."]))
    [minsk, talks, absent] = (tokenize([w])[0][0] for w in ("Minsk", "talks", "Zaporizhzhia"))
    stats = TermStats(postings.size, int(postings.lengths.sum()), postings.frequencies([minsk, talks, absent], None))
    weights = idf_weights({minsk, talks, absent}, stats)
    assert weights[absent] > weights[minsk] > weights[talks] > 0


def test_a_source_only_brushing_the_topic_is_listed_as_not_addressing_it(tmp_path, embedder, chunker, settings):
    build_index(tmp_path, [
        Document(text="Putin said the eastward expansion of NATO threatens Russia and Moscow objects to it.",
                 source="Kremlin"),
        Document(text="The White House said NATO is a defensive alliance whose expansion threatens no one.",
                 source="White House"),
        # Close enough to the question to pass RAG_ABSTAIN_BELOW, far below the two that answer it.
        Document(text="Russia and Belarus signed an agreement on gas prices.", source="Trade Wire"),
    ], embedder, chunker)
    answer = Engine.open(tmp_path, settings=settings, embedder=embedder).ask(
        "Why does Russia object to NATO expansion?", group_by="source")
    assert [g.source for g in answer.groups] == ["Kremlin", "White House"]
    assert answer.not_addressed == ["Trade Wire"]
    assert {p.source for p in answer.passages} == {"Kremlin", "White House"}
