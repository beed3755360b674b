"""Names in questions: a name of several words is one name, in the note and in the test for unknown names."""

from __future__ import annotations

import pytest

from rag import Document, Engine, build_index
from rag.names import names


@pytest.mark.parametrize(("question", "expected"), [
    ("What happened in the Black Sea?", ["Black Sea"]),
    ("What did Keir Giles say about Nord Stream?", ["Keir Giles", "Nord Stream"]),
    ("Why does Russia object to NATO expansion, according to Zubrowski?", ["Russia", "NATO", "Zubrowski"]),
    ("Did Putin, Biden and Scholz meet?", ["Putin", "Biden", "Scholz"]),  # a comma ends a name
    ("Russia massed troops. Did Keir Giles see it?", ["Keir Giles"]),  # first words of sentences are not names
    ("When did the Kerch Strait close? And the Black Sea, Ukraine?", ["Kerch Strait", "Black Sea", "Ukraine"]),
    ("What did NATO say? What did NATO do?", ["NATO"]),
])
def test_names_keep_words_of_one_name_together(question, expected):
    assert names(question) == expected


@pytest.fixture(scope="module")
def harbour_engine(tmp_path_factory, settings, embedder, chunker) -> Engine:
    # A source that mentions the sea and grain, but never "black", "keir" nor "giles".
    document = Document(text="Grain exports through the sea ports resumed on Tuesday after the harvest. "
                             "Ships left Odesa for Istanbul with wheat and maize.",
                        title="Harvest news", source="President of Ukraine", published="2022-01-12")
    path = tmp_path_factory.mktemp("harbour-index")
    build_index(path, [document], embedder, chunker)
    return Engine.open(path, settings=settings, embedder=embedder)


def test_a_name_is_unknown_only_when_none_of_its_words_is_in_the_sources(harbour_engine):
    # "Black Sea" is known by its "Sea": the engine must not say it never saw "Black".
    assert harbour_engine.ask("Did grain ships leave the Black Sea ports?").note == ""
    assert harbour_engine.ask("Did Keir Giles write about grain exports?").note == \
        "The sources never mention Keir Giles."
