from hypothesis import given, settings as hsettings, strategies as st

from rag.chunking import ChunkerConfig, chunk_document, get_encoding
from rag.documents import read_path
from rag.segment import dense_text
from rag.sentences import sentence_spans

from .conftest import SEED

# Sentences, paragraph breaks, long runs without spaces and non-Latin text: the cases where offsets drift.
pieces = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(["Mr. Smith said so. ", "“Quoted!” ", "\n\n", "  ", "U.S. forces left. ", "Київ. ", "😀 "]),
    st.text(alphabet="ab", min_size=100, max_size=900),
)


@hsettings(max_examples=150, deadline=None)
@given(parts=st.lists(pieces, max_size=30), size=st.integers(8, 120), overlap_share=st.floats(0, 0.9))
def test_chunks_are_exact_slices_within_the_token_limit(parts, size, overlap_share):
    text = "".join(parts)
    config = ChunkerConfig(max_tokens=size, overlap=int(size * overlap_share))
    chunks = chunk_document("d", text, config)
    encoding = get_encoding(config.encoding)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text and chunk.text
        assert len(encoding.encode_ordinary(chunk.text)) <= size + 8  # whitespace between units adds a little
    # Every non-space character lands in some chunk, and chunks advance through the text.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})


def test_overlap_repeats_trailing_sentences():
    text = " ".join(f"Sentence number {i} says something about the talks." for i in range(60))
    chunks = chunk_document("d", text, ChunkerConfig(max_tokens=60, overlap=20))
    assert len(chunks) > 3
    for before, after in zip(chunks, chunks[1:]):
        assert after.start < before.end  # overlapping
        assert text[after.start : before.end] in before.text


def test_sentences_respect_abbreviations():
    text = "Mr. Biden met Dr. Jones in the U.S. Capitol. They talked! Then J. Smith left?"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Mr. Biden met Dr. Jones in the U.S. Capitol.", "They talked!", "Then J. Smith left?"
    ]


def test_default_chunks_fit_the_embedder(embedder, chunker):
    """The embedder silently truncates past 256 wordpieces; the default window with its title must fit."""
    doc = next(read_path(SEED))
    long_title = doc.__class__(text=doc.text, title="Background Press Call by Senior Administration Officials on Russia and Ukraine")
    worst = max(
        embedder.count_wordpieces(dense_text(long_title, chunk.text)[0])
        for chunk in chunk_document(doc.doc_id, doc.text, chunker)
    )
    assert worst <= embedder.max_wordpieces
