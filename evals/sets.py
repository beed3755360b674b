"""Eval sets: a JSONL file whose first line says which corpus it runs over and whose other lines are questions.

    {"set": "seed", "description": "...", "corpus": ["corpus"]}
    {"id": "s01", "question": "...", "doc_ids": ["2c7730d37f9e5c95"], "evidence": "exact quote", "tags": ["who"]}
    {"id": "u01", "question": "...", "answerable": false, "tags": ["off-topic"]}
    {"id": "p01", "question": "...", "perspectives": [{"source": "The White House", "doc_ids": ["..."], "evidence": "..."}, ...]}

Corpus paths are relative to the repository root (so ``../shared/data/...`` names the team's data beside it).
``doc_ids`` are ``Document.doc_id`` values (hashes of the normalised text, stable across renames);
``evidence`` is a short verbatim quote from one of those documents that a correct passage must contain.
A "what does each side say" question names instead, per source it needs, that source's documents and evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
import re
from typing import Iterator, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rag import Document, Engine, RagError
from rag.embedding import Embedder
from rag.settings import Settings
from rag.conversation import Rarity, Turn, resolve_question
from rag.jsonl import read_jsonl

from .metrics import span_pattern

REPO_ROOT = Path(__file__).resolve().parent.parent


class BadEvalSet(RagError):
    """An eval set file that cannot be used as written; the message names the file and line."""


class SetHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: str = Field(min_length=1, description="The set's name, shown in reports.")
    description: str = ""
    corpus: list[str] = Field(min_length=1, description="Folders or JSONL files, relative to the repository root.")


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] = Field(min_length=1)
    record_ids: list[str] = Field(default_factory=list, description="The records' own ids, for people reading the set.")
    evidence: str = Field(min_length=1, description="A short verbatim quote a passage must contain.")


class Perspective(Evidence):
    """One source's side of a "what does each side say" question.

    A side is often stated in several places; ``also`` lists other passages judged to state it too.
    """

    source: str = Field(description='The source as its documents carry it; "" for documents with no publisher.')
    also: list[Evidence] = Field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """What a passage must show to count as an answer: one of some quotes, each from one of its documents."""

    options: tuple[tuple[tuple[str, ...], str], ...]  # (doc_ids, evidence)
    source: str | None  # the source it stands for, for perspective questions; None for single-answer ones

    @property
    def doc_ids(self) -> tuple[str, ...]:
        return tuple(d for ids, _ in self.options for d in ids)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answerable: bool = True
    doc_ids: list[str] = Field(default_factory=list, description="Documents that answer the question.")
    evidence: str = Field("", description="A short verbatim quote a correct passage must contain.")
    tags: list[str] = Field(default_factory=list, description="who/what/when/why, date-specific, speaker:NAME, ...")
    perspectives: list[Perspective] = Field(default_factory=list, description="Per source, what it must show.")
    conversation: list[str] = Field(default_factory=list, description="The user's earlier questions, oldest first: "
                                    "`question` is a follow-up to them.")
    note: str = ""

    def searched(self, rarity: Rarity | None = None) -> str:
        """What is searched: the question, resolved against the conversation before it (rag.conversation)."""
        return resolve_question(self.question, [Turn("user", text) for text in self.conversation], rarity)

    @model_validator(mode="after")
    def _answerable_needs_evidence(self) -> "Item":
        single = bool(self.doc_ids or self.evidence)
        if self.perspectives and single:
            raise ValueError("an item with perspectives takes its doc_ids and evidence inside each perspective")
        if self.answerable and not (self.perspectives or (self.doc_ids and self.evidence.strip())):
            raise ValueError("an answerable item needs doc_ids and evidence, or perspectives")
        if not self.answerable and (single or self.perspectives):
            raise ValueError("an unanswerable item (answerable: false) takes no doc_ids, evidence or perspectives")
        return self

    @property
    def targets(self) -> list[Target]:
        if self.perspectives:
            return [Target(tuple((tuple(e.doc_ids), e.evidence) for e in (p, *p.also)), p.source)
                    for p in self.perspectives]
        return [Target(((tuple(self.doc_ids), self.evidence),), None)] if self.answerable else []

    @property
    def relevant_docs(self) -> list[str]:
        return list(dict.fromkeys(d for t in self.targets for d in t.doc_ids))

    @property
    def speaker(self) -> str | None:
        """Who says the evidence, where the set names them (a ``speaker:NAME`` tag)."""
        return next((t.removeprefix("speaker:") for t in self.tags if t.startswith("speaker:")), None)


@dataclass(frozen=True)
class EvalSet:
    path: Path
    header: SetHeader
    items: list[Item]
    lines: dict[str, int]  # item id -> its line in the file, for messages

    @property
    def name(self) -> str:
        return self.header.set

    def corpus_paths(self) -> list[Path]:
        return [REPO_ROOT / p for p in self.header.corpus]

    def over(self, corpus: list[str]) -> "EvalSet":
        """The same questions over another corpus (absolute paths, or relative to the repository root)."""
        return replace(self, header=self.header.model_copy(update={"corpus": corpus}))

    def missing_corpus(self) -> list[Path]:
        return [p for p in self.corpus_paths() if not p.exists()]

    def where(self, item: Item) -> str:
        return f"{self.path}:{self.lines[item.id]}"


def load_set(path: Path) -> EvalSet:
    """Read and validate an eval set; every error names the file and line."""
    path = Path(path)
    header: SetHeader | None = None
    items: list[Item] = []
    numbers: dict[str, int] = {}
    for number, where, record in read_jsonl(path, BadEvalSet):
        model = SetHeader if header is None else Item
        try:
            parsed = model.model_validate(record)
        except ValidationError as exc:
            what = "the set header" if header is None else "an item"
            raise BadEvalSet(f"{where}: not {what}: {_explain(exc)}") from None
        if isinstance(parsed, SetHeader):
            header = parsed
            continue
        if parsed.id in numbers:
            raise BadEvalSet(f"{where}: id {parsed.id!r} already used on line {numbers[parsed.id]}")
        numbers[parsed.id] = number
        items.append(parsed)
    if header is None:
        raise BadEvalSet(f'{path}: empty; the first line must be a header like {{"set": "name", "corpus": ["corpus"]}}')
    if not items:
        raise BadEvalSet(f"{path}: no questions after the header")
    return EvalSet(path, header, items, numbers)


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(x) for x in error["loc"]) or "line"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)


def check_evidence(eval_set: EvalSet, documents: Sequence[Document]) -> None:
    """Every doc id must be in the corpus, every evidence quote in one of its documents, verbatim, and
    every perspective's documents from the source it names."""
    by_id = {doc.doc_id: doc for doc in documents}
    for item in eval_set.items:
        for target in item.targets:
            unknown = [d for d in target.doc_ids if d not in by_id]
            if unknown:
                raise BadEvalSet(f"{eval_set.where(item)}: doc id {unknown[0]} is not in the set's corpus")
            for doc_ids, evidence in target.options:
                if not any(span_pattern(evidence).search(by_id[d].text) for d in doc_ids):
                    raise BadEvalSet(f"{eval_set.where(item)}: evidence {evidence[:60]!r} is not in its documents verbatim")
            other = [by_id[d].source for d in target.doc_ids if target.source not in (None, by_id[d].source)]
            if other:
                raise BadEvalSet(f"{eval_set.where(item)}: a document of the perspective {target.source!r} "
                                 f"is from {other[0]!r}")


def training_questions(sets: Sequence[tuple[EvalSet, Path]], embedder: Embedder,
                       settings: Settings) -> Iterator[tuple[Engine, Item, list[tuple[re.Pattern[str], set[str]]]]]:
    """Each answerable question of ``sets`` (each with its corpus's index), with an engine over that index and
    the (evidence pattern, its documents) pairs a passage must match to hold the answer, as the eval judges."""
    for eval_set, index in sets:
        engine = Engine.open(index, settings=settings, embedder=embedder)
        for item in eval_set.items:
            if item.answerable:
                yield engine, item, [(span_pattern(evidence), set(doc_ids)) for target in item.targets
                                     for doc_ids, evidence in target.options]
