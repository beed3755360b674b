"""Answering a question: dense, BM25 or fused retrieval, filters, copy removal, abstention, best sentence.

``Engine`` is the one entry point the CLI, the HTTP service and the eval runner all use.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .chunking import ChunkerConfig
from .documents import Document
from .embedding import Embedder
from .dates import after_the_sources, date_windows
from .errors import BadQuery, CorruptIndex, IndexNotFound
from .fusion import normalised, score_fusion
from .index import BuildReport, IndexConfig, LocalIndex, embedder_for, open_index
from .features import Candidates, candidate_features
from .lexical import ASKING, idf_weights, tokenize, unknown
from .names import names
from .adapter import load_adapter
from .answers import expected_answer, only_attribution
from .sides import asks_each_side
from .speakers import asked_speaker, names_speaker
from .abstention import Evidence, evidence, load_abstention
from .rerank import late_interaction
from .reranking import load_reranker
from .models import GROUPINGS, MODES, Answer, Filters, Passage, SourceGroup
from .segment import dense_text, lexical_text
from .sharded import ShardedIndex
from .sentence_picker import SentencePicker, load_sentence_picker, sentence_features
from .sentences import heading_lead, prose, prose_map, shown_span
from .settings import Settings, get_settings
from .spelling import spellings
from .storage import DocumentSummary, Hits, Scope, SentenceRow, Store, StoreStats

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 100
FUSED = ("hybrid", "rerank")  # the modes that fuse dense and BM25 rankings
# The source penalty for a question asking each side's view: a source's next passage comes after every
# other candidate source's, in rank order, so each voice is heard before any is heard twice.
ROUND_ROBIN = 1e9
GROUP_SIMILARITY_GAP = 0.3  # cosine below the best source's at which a source counts as not addressing
SPEAKER_CANDIDATES = 30  # fused candidates searched for the words of a person the question names
SHORT_SENTENCE_WORDS = 4  # content words (after stop words), below which a sentence rarely answers
NAMED_CANDIDATES = 100  # candidates read for every word of a question that names something (see _vouched)


class Engine:
    """Question answering over one index directory, through the Store interface (rag.storage) alone.

    >>> engine = Engine.open("index")
    >>> answer = engine.ask("Why does Russia object to NATO expansion?", top_k=3)
    >>> answer.passages[0].citation, answer.passages[0].sentence
    ('[1]', 'They reference Moscow’s greatest grievance being ...')
    """

    def __init__(self, index_dir: Path, settings: Settings, embedder: Embedder,
                 index: LocalIndex | ShardedIndex | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.embedder = embedder
        self._lock = threading.Lock()  # one write or reload at a time; questions never wait for it
        self._beside = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="rag-bm25")
        self._merger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-merge")
        self.index = index or open_index(self.index_dir, self.config, settings.index_kind, settings.embed_batch_size)
        self.reranker = load_reranker(settings.reranker)
        self.adapter = load_adapter(settings.query_adapter, embedder.name, embedder.dimension)
        self.sentence_picker = load_sentence_picker(settings.sentence_picker)
        self.abstention = load_abstention(settings.abstention)
        self._failed: str | None = None  # a current state that could not be opened, not tried again
        self._problem: str | None = None
        self._open()

    @classmethod
    def open(cls, index_dir: Path | str | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None, index: LocalIndex | ShardedIndex | None = None) -> "Engine":
        """Open the index at ``index_dir`` (default: the ``RAG_INDEX_DIR`` setting) with the configured model;
        ``index`` stands for that directory when the caller opened it another way (rag.ray_cluster)."""
        settings = settings or get_settings()
        index_dir = Path(index_dir or settings.index_dir)
        return cls(index_dir, settings, embedder or embedder_for(index_dir, settings), index)

    @property
    def config(self) -> IndexConfig:
        return index_config(self.settings, self.embedder)

    @property
    def store(self) -> Store:
        """The snapshot questions are answered from now; hold it to read one consistent state."""
        return self._store

    @property
    def problem(self) -> str | None:
        """Why what is served is not exactly the index's current state on disk (a damaged file), or None."""
        return self._problem

    def name_rarity(self, name: str) -> float:
        """How rarely the sources mention ``name``: the idf of its rarest word (0 for a name of no words).
        What a follow-up's new name replaces in the question before it (rag.conversation)."""
        terms = set(tokenize([name])[0])
        return max(idf_weights(terms, self._store.term_stats(sorted(terms))).values(), default=0.0)

    def _open(self) -> None:
        self._store = self.index.open()  # falls back to the last intact state, saying why in `problem`
        self._note_fallback()

    def _note_fallback(self) -> None:
        # A damaged current state is not opened (and its files read and hashed) again on every poll: only
        # once CURRENT names another.
        self._problem = self.index.problem
        self._failed = self.index.current() if self._problem else None

    def reload(self) -> bool:
        """Switch to the index's current state if a write (here or in another process) changed it; True
        when it switched. Snapshots in use stay as they were: requests in flight keep theirs. When the new
        state is damaged, the last intact one (or, if none is left on disk, the one loaded) stays served."""
        with self._lock:
            current = self.index.current()
            if current is None:
                raise IndexNotFound(f"no index at {self.index_dir}: build one with `rag index --index {self.index_dir}`")
            served = self._store.stats().version
            if current in (served, self._failed):
                return False
            try:
                store = self.index.open()
            except CorruptIndex as exc:
                self._failed = current
                self._problem = f"{exc}; still serving {served}, loaded and checked before"
                return False
            self._note_fallback()
            if store.stats().version == served:
                return False
            self._store = store
            return True

    def verify(self) -> str | None:
        """Check the files the served state was loaded from against their checksums again (they are held
        in memory, so damage on disk changes no answer, but the next start or reload would meet it).
        Returns the problem found, which `problem` then reports too; None when all is intact."""
        damage = self.index.damage(self._store)
        if damage:
            self._problem = (f"{damage}: damaged on disk after it was loaded; answers still come from the copy "
                             f"checked at load; rebuild with `rag index --index {self.index_dir} --rebuild`")
        elif self._failed is None:
            self._problem = self.index.problem
        return damage

    def documents(self, offset: int = 0, limit: int = 50) -> tuple[int, list[DocumentSummary]]:
        """(total, one page of documents with metadata and chunk counts), in index order."""
        store = self._store
        return store.stats().documents, store.documents(offset, limit)

    def document(self, doc_id: str) -> Document | None:
        """The full document (text included), so a citation's offsets can be shown in context."""
        return self._store.document(doc_id)

    def add_documents(self, documents: list[Document]) -> BuildReport:
        """Add or replace documents (same URL replaces); they are durable and searchable when this returns."""
        with self._lock:
            report = self.index.put(documents, self.embedder)
            self._open()
        self._merger.submit(self._merge)
        return report

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document; False when no document has that id."""
        with self._lock:
            removed = self.index.delete([doc_id], self.embedder)
            if removed:
                self._open()
        if removed:
            self._merger.submit(self._merge)
        return bool(removed)

    def _merge(self) -> None:
        """Fold small segments together, in the background after a write (rag.index's merge policy)."""
        try:
            with self._lock:
                if self.index.merge():
                    self._open()
        except Exception:  # the next write merges again; a failed merge changes nothing on disk
            log.exception("merging segments failed")

    def ask(
        self,
        question: str,
        top_k: int = 5,
        mode: str = "hybrid",
        filters: Filters | None = None,
        group_by: str | None = None,
        per_group: int = 2,
    ) -> Answer:
        """The passages that answer ``question``, best first, each with its citation and best sentence.

        With ``group_by="source"``, each source that addresses the question gets its own best
        ``per_group`` passages (sources ordered by their best passage); a source whose best passage
        does not pass the abstention threshold is listed in ``not_addressed`` instead.

        It declines (no passages) when nothing passes the abstention threshold, when the question only
        asks about months after the newest source, or when it names something no source mentions and no
        passage comes close; ``note`` says why where it can.
        """
        started = time.perf_counter()
        question = _check_question(question)
        if not 1 <= top_k <= MAX_TOP_K:
            raise BadQuery(f"top_k: must be between 1 and {MAX_TOP_K}, got {top_k}")
        if mode not in MODES:
            raise BadQuery(f"mode: must be one of {', '.join(MODES)}, got {mode[:20]!r}")
        if group_by not in GROUPINGS:
            raise BadQuery(f"group_by: must be one of {', '.join(g for g in GROUPINGS if g)} or empty, got {str(group_by)[:20]!r}")
        if not 1 <= per_group <= MAX_TOP_K:
            raise BadQuery(f"per_group: must be between 1 and {MAX_TOP_K}, got {per_group}")
        store = self._store  # one snapshot for the whole request, even if a reload happens meanwhile
        asked_at = time.monotonic()
        stats = store.stats()
        _check_filters(filters, stats)
        scope = Scope.of(filters)
        passages: list[Passage] = []
        groups: list[SourceGroup] = []
        not_addressed: list[str] = []
        note = ""
        beyond = after_the_sources(question, stats.date_range[1]) if stats.date_range else None
        if beyond:
            note = (f"The sources end on {stats.date_range[1].isoformat()}; they cannot report what happened "
                    f"in {beyond:%B %Y}.")
        elif stats.chunks and (scope.everything or _in_scope(store, scope, filters)):
            own, query = self._question_vectors(question)
            asked = _Asked(store, question, query, own, self.sentence_picker)
            if group_by == "source":
                passages, groups, not_addressed = self._by_source(store, asked, mode, scope, per_group)
            else:
                penalty = ROUND_ROBIN if asks_each_side(question) else self.settings.source_penalty
                ranked = self._rank(store, question, query, mode, scope)
                found = self._choose(store, asked, *ranked, top_k, penalty)
                unanswered = self._unanswered(store, question, own, ranked[0], mode) if found else None
                if unanswered:
                    found, note = None, unanswered
                passages = self._passages(store, asked, *found, first_rank=1) if found else []
            never = unknown(store, names(question))
            if never:
                note = f"The sources never mention {_listed(never)}."
                if passages and max(p.similarity for p in passages) < self.settings.unknown_name_abstain:
                    not_addressed = sorted(set(not_addressed) | {g.source for g in groups})
                    passages, groups = [], []
        unavailable = store.unavailable(asked_at)
        return Answer(
            question=question, mode=mode, top_k=top_k, per_group=per_group if group_by else 0,
            returned=len(passages), abstained=not passages, passages=passages,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            as_of=max((p.published for p in passages), default=""),
            group_by=group_by or "", groups=groups, not_addressed=not_addressed, note=note,
            partial=bool(unavailable), unavailable=unavailable,
        )

    def _choose(self, store: Store, asked: "_Asked", rows, scores, top_k, penalty=0.0, by_document=False):
        """(ids, scores, similarities, best sentences) of the best distinct passages of a ranking, or None
        to abstain; ``penalty`` spreads the pick over sources (or over documents).

        It abstains when no chosen passage is close enough to the question (``RAG_ABSTAIN_BELOW``), unless
        the question names something and some candidates hold every word of it (``_vouched``): then those
        candidates answer. A name alone ("Who is Keir Giles?") embeds far from any passage about the person,
        but a passage holding the name and every other word asked is evidence no cosine can overrule.
        """
        chosen = self._pick(store, asked, rows, scores, top_k, penalty, by_document)
        if chosen is None or chosen[2].max() >= self.settings.abstain_below:
            return chosen
        vouched = _vouched(store, asked.question, rows)
        if not vouched.any():
            return None
        return self._pick(store, asked, rows[vouched], scores[vouched], top_k, penalty, by_document)

    def abstention_evidence(self, question: str) -> Evidence:
        """What the abstention model (rag.abstention) reads of ``question`` in the hybrid mode: what
        `python -m evals.tune --abstention` learns from, exactly as a question sees it."""
        store = self._store
        own, query = self._question_vectors(question)
        return evidence(store, question, own, self._rank(store, question, query, "hybrid", Scope.of(None))[0])

    def _unanswered(self, store: Store, question: str, own: np.ndarray, rows: np.ndarray, mode: str) -> str:
        """Why the best passages do not answer, as the learned abstention judges them; "" when they do (or
        no model applies: it reads the hybrid ranking of a large enough index only)."""
        chunks = store.stats().chunks
        if self.abstention is None or mode != "hybrid" or self.abstention.threshold_at(chunks) is None:
            return ""
        found = evidence(store, question, own, rows)
        if not self.abstention.declines(found, chunks):
            return ""
        lacking = f": none holds {_listed([f'“{w}”' for w in found.missing[:2]])}" if found.missing else ""
        return f"The passages closest to the question do not answer it{lacking}."

    def _pick(self, store: Store, asked: "_Asked", rows, scores, top_k, penalty, by_document):
        pool = top_k if not penalty else 3 * top_k
        rows, scores, vectors, best = self._drop_copies(store, asked, rows, scores, pool)
        if not len(rows):
            return None
        if penalty:
            labels = [c.doc_id if by_document else c.source for c in store.chunks(rows)]
            order = _diversify(labels, penalty, top_k)
            rows, scores, vectors = rows[order], scores[order], vectors[order]
        return rows, scores, vectors @ asked.own, best

    def _by_source(self, store: Store, asked: "_Asked", mode, scope: Scope, per_group):
        # One ranking over every source, split by source: a source that has no candidate in it gets its
        # own search, so "not addressed" is always judged on that source's best passage.
        question, query = asked.question, asked.query
        rows, scores = self._rank(store, question, query, mode, scope)
        sources_of = np.array([c.source for c in store.chunks(rows)], dtype=object)
        found = []
        not_addressed = []
        for source in [count.source for count in store.stats().sources]:
            allowed = scope.only_source(source)
            if not store.count(allowed):
                continue
            own = sources_of == source
            ranked = (rows[own], scores[own]) if own.any() else self._rank(store, question, query, mode, allowed)
            # Within a source, the same spread over its documents: a second passage of one speech is
            # less often a second answer than a passage of another document.
            selection = self._choose(store, asked, *ranked, per_group, self.settings.source_penalty, by_document=True)
            if selection is None:
                not_addressed.append(source)
                continue
            found.append((source, selection))
        found.sort(key=lambda pair: -float(pair[1][2].max()))
        # A source whose best passage is far less like the question than the best source's is only
        # brushing the topic (an op-ed on a March event it predates): not addressed either.
        best = float(found[0][1][2].max()) if found else 0.0
        near = [selection for _, selection in found if best - float(selection[2].max()) <= GROUP_SIMILARITY_GAP]
        not_addressed = sorted(not_addressed + [source for source, _ in found[len(near):]])
        passages: list[Passage] = []
        groups: list[SourceGroup] = []
        for selection in near:
            group = self._passages(store, asked, *selection, first_rank=len(passages) + 1)
            dates = sorted(p.published for p in group if p.published)
            groups.append(SourceGroup(
                source=group[0].source, citations=[p.citation for p in group],
                published_from=dates[0] if dates else "", published_to=dates[-1] if dates else "",
            ))
            passages.extend(group)
        return passages, groups, not_addressed

    def embed_question(self, question: str) -> np.ndarray:
        """The vector the question is searched with (see ``_question_vectors``)."""
        return self._question_vectors(question)[1]

    def _question_vectors(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's own vector (with a name the sources spell differently, the mean over its spellings)
        and the one it is searched with: the own vector moved by the query adapter, where there is one.
        Rankings read the second; every cosine threshold (abstention, a source not addressing the question)
        reads the first, the model's own similarity, on which they were set."""
        vectors = self.embedder.encode(spellings(question))
        mean = vectors.mean(axis=0)
        own = mean / np.linalg.norm(mean)
        return own, own if self.adapter is None else self.adapter.apply(own)

    def _rank(self, store: Store, question, query, mode, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        if mode not in FUSED:
            return self._search(store, question, query, mode, scope, min(self.settings.candidates, store.stats().chunks))[0]
        rows, scores, context = self._fused(store, question, query, mode, scope)
        if mode == "rerank":
            return self._reread(store, question, rows, scores)
        if self.reranker is not None:
            return self._rerank(question, self._candidates(store, question, query, rows, scores, *context), rows, scores)
        return rows, scores

    def _fused(self, store: Store, question, query, mode, scope: Scope):
        """The fused ranking, and what a reranker's features need of how it was made: the question's own
        dense and BM25 lists, the date windows it names, the speaker it asks for."""
        stats = store.stats()
        k = min(self.settings.candidates, stats.chunks)
        lists = self._search(store, question, query, mode, scope, k)
        # A date in the question ("the January 8 call") also searches the documents published then, since
        # that cue sits in their metadata, not in the passage.
        windows = date_windows(question, *stats.date_range) if stats.date_range else []
        dated = scope.in_windows(windows)
        if windows and store.count(dated):
            lists += self._search(store, question, query, mode, dated, k)
        # Each search gave (dense, BM25); the date windows' searches come after the question's own.
        weights = [self.settings.dense_weight, 1.0] * (len(lists) // 2)
        rows, scores = score_fusion(lists, weights)
        speaker = asked_speaker(question)
        if speaker:
            rows, scores = self._heard_from(store, speaker, rows, scores)
        return rows, scores, (lists[0], lists[1], windows, speaker)

    def candidates(self, question: str, filters: Filters | None = None) -> Candidates:
        """The hybrid ranking's best ``RAG_RERANK_DEPTH`` candidates with the reranker's features, before it
        reorders them: what `python -m evals.tune` trains on, exactly as a question sees it."""
        store = self._store
        query = self.embed_question(question)
        rows, scores, context = self._fused(store, question, query, "hybrid", Scope.of(filters))
        return self._candidates(store, question, query, rows, scores, *context)

    def sentence_tables(self, question: str, rows: list[int]) -> list[tuple[list[SentenceRow], "SentenceTable"]]:
        """Each row's sentences and what the sentence picker reads of them for ``question``: what
        `python -m evals.tune --sentences` learns the picker's weights from, exactly as a question sees it."""
        store = self._store
        own, query = self._question_vectors(question)
        asked = _Asked(store, question, query, own, self.sentence_picker)
        sentences = store.sentences(rows)
        return list(zip((sentences[row] for row in rows), asked.sentence_tables(rows, sentences)))

    def _candidates(self, store, question, query, rows, scores, dense, lexical, windows, speaker) -> Candidates:
        depth = self.settings.rerank_depth
        return candidate_features(store, question, query, rows[:depth], scores[:depth], dense, lexical, windows, speaker)

    def _rerank(self, question: str, candidates: Candidates, rows: np.ndarray,
                scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidates in the reranker's order with its scores, then the rest of the fused ranking as it
        was, its scores shifted to stay below them."""
        head = len(candidates.ids)
        if head < 2:
            return rows, scores
        learned = self.reranker.rank(question, candidates)
        order = np.argsort(-learned, kind="stable")
        tail = learned.min() - (scores[head - 1] - scores[head:])
        return np.concatenate([candidates.ids[order], rows[head:]]), np.concatenate([learned[order], tail])

    def _heard_from(self, store: Store, surname, rows, scores) -> tuple[np.ndarray, np.ndarray]:
        """A question for someone's own words ("what did Putin tell...") fuses one more ranking: the best
        candidates where a sentence's speaker label names that person, so a briefing that only mentions
        them does not outrank their own words."""
        head = [int(r) for r in rows[:SPEAKER_CANDIDATES]]
        sentences = store.sentences(head)
        heard = [i for i, row in enumerate(head) if any(s.speaker and names_speaker(surname, s.speaker)
                                                        for s in sentences[row])]
        if not heard:
            return rows, scores
        scores = scores.copy()
        scores[heard] += normalised(scores[heard])  # one more ranking, fused like the others
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]

    def _reread(self, store: Store, question, rows, scores) -> tuple[np.ndarray, np.ndarray]:
        """The fused ranking with its best ``rerank_candidates`` also scored by late interaction
        (rag.rerank), the two scores fused like dense and BM25; the rest keep their hybrid score alone."""
        head = rows[: self.settings.rerank_candidates]
        # As embedded: the title rides along.
        texts = [dense_text(excerpt, excerpt.text)[0] for excerpt in store.excerpts(head)]
        late = late_interaction(self.embedder, question, texts)
        return score_fusion([(rows, scores), (head, late)], [1.0, self.settings.rerank_weight])

    def _search(self, store: Store, question, query, mode, scope: Scope, k) -> list[Hits]:
        # BM25 runs on another thread beside the dense search: both release the GIL (faiss, and the numba
        # kernel), so with a core free it adds nothing (2 ms a question at 1M chunks, more with a date filter).
        lexical = (self._beside.submit(store.lexical_search, tokenize([question])[0], k, scope)
                   if mode in ("bm25", *FUSED) else None)
        lists = [store.dense_search(query, k, scope)] if mode in ("dense", *FUSED) else []
        if lexical is not None:
            lists.append(lexical.result())
        return lists

    def _drop_copies(self, store: Store, asked: "_Asked", rows, scores,
                     top_k) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, SentenceRow]]:
        """Skip passages that mostly repeat what a better one already shows (wire copies, boilerplate).

        A passage is a copy when at least half of its text is in sentences already shown, when its
        answering sentence reads the same as a kept passage's (the reader would be shown one sentence
        twice), or when its vector is nearly the same as a kept one's. Overlapping chunks of one document
        share far less. Returns the kept rows, their scores and vectors, and each kept row's answering sentence.
        """
        pool = [int(r) for r in rows[: max(4 * top_k, 20)]]
        sentences: dict[int, list[SentenceRow]] = {}
        best: dict[int, SentenceRow] = {}
        pool_vectors = store.vectors(pool)
        kept: list[int] = []
        shown: set[int] = set()
        highlighted: set[str] = set()
        for i, row in enumerate(pool):
            if row not in sentences:  # read top_k rows at a time: the pool is 4x what is usually needed
                sentences.update(store.sentences(pool[i : i + top_k]))
            parts = sentences[row]
            repeated = sum(s.end - s.start for s in parts if s.hash in shown)
            if repeated * 2 >= sum(s.end - s.start for s in parts):
                continue
            if kept and float(np.max(pool_vectors[kept] @ pool_vectors[i])) > self.settings.dedupe_above:
                continue
            if row not in best:
                best.update(asked.best_sentences([r for r in pool[i : i + top_k] if r in sentences and r not in best],
                                                 sentences))
            said = " ".join(prose(asked.said[row]).casefold().split())
            if said in highlighted:
                continue
            highlighted.add(said)
            shown.update(s.hash for s in parts)
            kept.append(i)
            if len(kept) == top_k:
                break
        return rows[kept], scores[kept], pool_vectors[kept], {pool[i]: best[pool[i]] for i in kept}

    def _passages(self, store: Store, asked: "_Asked", rows, scores, similarity, best,
                  first_rank: int) -> list[Passage]:
        passages = []
        for rank, (row, score, sim) in enumerate(zip(rows, scores, similarity), first_rank):
            (excerpt, place), = asked.read([int(row)])
            sentence = best[int(row)]
            start = place.start
            shown, origin = prose_map(excerpt.text)
            lo, hi = shown_span(origin, sentence.start - start, sentence.end - start)
            doc_id = place.doc_id
            passages.append(Passage(
                rank=rank, citation=f"[{rank}]", doc_id=doc_id, chunk_id=f"{doc_id}:{place.index}",
                title=excerpt.title, source=excerpt.source, url=excerpt.url, published=excerpt.published,
                text=excerpt.text, sentence=excerpt.text[sentence.start - start : sentence.end - start],
                display_text=shown, display_sentence=shown[lo:hi].strip(),
                sentence_start=sentence.start, sentence_end=sentence.end, speaker=sentence.speaker,
                char_start=start, char_end=place.end, score=round(float(score), 6), similarity=round(float(sim), 4),
            ))
        return passages


class _Asked:
    """One question as the answering stages see it: its text and vector, the passages read for it, and
    how each passage's answering sentence is picked."""

    def __init__(self, store: Store, question: str, query: np.ndarray, own: np.ndarray,
                 picker: SentencePicker) -> None:
        self.store, self.question, self.query, self.picker = store, question, query, picker
        self.own = own  # the question's vector before the query adapter: what cosine thresholds read
        terms = set(tokenize([question])[0])
        self.terms = idf_weights(terms, store.term_stats(sorted(terms)))
        self.expected = expected_answer(question)
        self._read: dict[int, tuple[Document, object]] = {}
        self.said: dict[int, str] = {}  # each row's answering sentence, as text, once picked

    def read(self, rows: list[int]) -> list[tuple[Document, object]]:
        """(excerpt, chunk place) of each row, each read from the store once per question."""
        todo = [row for row in dict.fromkeys(rows) if row not in self._read]
        if todo:
            self._read.update(zip(todo, zip(self.store.excerpts(todo), self.store.chunks(todo))))
        return [self._read[row] for row in rows]

    def best_sentences(self, rows: list[int], sentences: dict[int, list[SentenceRow]]) -> dict[int, SentenceRow]:
        """Each row's answering sentence, as the picker (rag.sentence_picker) chooses it."""
        best = {}
        for row, table in zip(rows, self.sentence_tables(rows, sentences)):
            best[row] = sentence = _best_sentence(sentences[row], table, self.picker)
            excerpt, place = self._read[row]
            self.said[row] = excerpt.text[sentence.start - place.start : sentence.end - place.start]
        return best

    def sentence_tables(self, rows: list[int], sentences: dict[int, list[SentenceRow]]) -> list[SentenceTable]:
        """What the picker reads of each row's sentences."""
        if not rows:
            return []
        texts = [[excerpt.text[s.start - place.start : s.end - place.start] for s in sentences[row]]
                 for row, (excerpt, place) in zip(rows, self.read(rows))]
        # Every sentence in one tokenize call: tokenizing costs 0.06 ms a call before any text. Their vectors
        # in one read too: a remote store (rag.ray_cluster) pays a round trip a read.
        words = iter(tokenize([text for passage in texts for text in passage]))
        vectors = self.store.sentence_vectors([s.id for row in rows for s in sentences[row]])
        tables, first = [], 0
        for row, sentence_texts in zip(rows, texts):
            count = len(sentence_texts)
            tables.append(_sentence_table(sentence_texts, [next(words) for _ in range(count)],
                                          [s.speaker for s in sentences[row]], vectors[first : first + count],
                                          self.query, self.own, self.terms, self.expected))
            first += count
        return tables


def index_config(settings: Settings, embedder: Embedder) -> IndexConfig:
    chunker = ChunkerConfig(settings.encoding, settings.chunk_tokens, settings.chunk_overlap)
    return IndexConfig(embedder.name, embedder.dimension, chunker)


def _check_question(question: str) -> str:
    if not isinstance(question, str):
        raise BadQuery("question: must be a string")
    # Lone surrogates cannot be encoded for the tokenizers; replace rather than fail.
    question = question.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ").strip()
    if not question:
        raise BadQuery("question: must not be empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadQuery(f"question: at most {MAX_QUESTION_CHARS} characters, got {len(question)}")
    return question


def _check_filters(filters: Filters | None, stats: StoreStats) -> None:
    """An inverted date range or a source the index does not have would only decline: say so instead."""
    if not filters:
        return
    if filters.published_from and filters.published_to and filters.published_from > filters.published_to:
        raise BadQuery(f"published_to: must not be before published_from ({filters.published_from.isoformat()})")
    known = {count.source.casefold() for count in stats.sources}
    missing = [name for name in filters.source if name.casefold() not in known]
    if missing:
        names = ", ".join(repr(count.source) for count in stats.sources if count.source) or "none"
        raise BadQuery(f"source: the index has no source named {_listed([repr(m) for m in missing])} (it has {names})")


def _in_scope(store: Store, scope: Scope, filters: Filters) -> bool:
    """True when some chunk is inside the filters; a date range that holds no document is a bad filter."""
    if store.count(scope):
        return True
    if filters.published_from or filters.published_to:
        span = store.stats().date_range
        where = f" (the sources span {span[0].isoformat()} to {span[1].isoformat()})" if span else ""
        raise BadQuery(f"published_from: no document{' of these sources' if filters.source else ''} "
                       f"is published in this date range{where}")
    return False


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _vouched(store: Store, question: str, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` (among the first ``NAMED_CANDIDATES``) hold every word of ``question`` but the
    asking ones (``ASKING``), names included, as BM25 reads them (title, source and date too); none when
    the question names nothing.

    A question that names something the sources mention, and whose every other word stands in the same
    passage, is answered by that passage however far its embedding is from the question's.
    """
    vouched = np.zeros(len(rows), dtype=bool)
    wanted = set(tokenize([question])[0]) - ASKING
    if not wanted or not names(question):
        return vouched
    head = [int(row) for row in rows[:NAMED_CANDIDATES]]
    texts = [lexical_text(excerpt, excerpt.text) for excerpt in store.excerpts(head)]
    vouched[: len(head)] = [wanted <= set(words) for words in tokenize(texts)]
    return vouched


def _diversify(sources: list[str], penalty: float, k: int) -> list[int]:
    """Positions of ``k`` items picked greedily by rank plus ``penalty`` per item of the same source already picked."""
    counts: dict[str, int] = {}
    remaining = list(range(len(sources)))
    chosen = []
    while remaining and len(chosen) < k:
        best = min(remaining, key=lambda i: (i + penalty * counts.get(sources[i], 0), i))
        chosen.append(best)
        remaining.remove(best)
        counts[sources[best]] = counts.get(sources[best], 0) + 1
    return chosen


def _sentence_table(texts, words, speakers, vectors, query, own, question_terms: dict[str, float],
                    expected: re.Pattern[str] | None) -> SentenceTable:
    """What rag.sentence_picker scores for one passage's sentences: ``texts`` holds each sentence's text,
    ``words`` its tokens (as ``tokenize`` gives them), ``vectors`` its vector."""
    # A heading opening a sentence ("### Senators", "**I. Security**") is not part of what it says: the
    # sentence is judged and shown without it, and a heading alone is never the answer.
    leads = [heading_lead(text) for text in texts]
    texts = [text[lead:] for text, lead in zip(texts, leads)]
    total = sum(question_terms.values())
    shared = np.array([sum(question_terms[t] for t in question_terms.keys() & set(w)) / total if total else 0.0
                       for w in words], dtype=np.float32)
    # "MS. PSAKI: Yeah." is close to anything and answers nothing, like "This was stated by ..."
    says_little = np.array([len(w) < SHORT_SENTENCE_WORDS or only_attribution(t) for t, w in zip(texts, words)],
                           dtype=np.float32)
    holds = np.array([expected is not None and bool(expected.search(t)) for t in texts], dtype=np.float32)
    features = sentence_features(texts, words, speakers, vectors @ query, vectors @ own, shared, says_little, holds)
    return SentenceTable(features, np.array([not text for text in texts]), leads)


class SentenceTable(NamedTuple):
    features: np.ndarray  # (sentences, rag.sentence_picker.FEATURES)
    headings: np.ndarray  # sentences that are only a heading: never the answer
    leads: list[int]  # characters of heading opening each sentence, left out of what is shown


def _best_sentence(sentences: list[SentenceRow], table: SentenceTable, picker: SentencePicker) -> SentenceRow:
    """The sentence the picker scores highest, a heading never (unless the passage is only headings)."""
    scores = picker.scores(table.features)
    if not table.headings.all():
        scores[table.headings] = -np.inf
    best = int(np.argmax(scores))
    lead = 0 if table.headings[best] else table.leads[best]
    return sentences[best]._replace(start=sentences[best].start + lead)
