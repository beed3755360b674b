"""Eval set files: validation errors name the line; the shipped sets are valid and their quotes verbatim."""

import json
from pathlib import Path

import pytest

from evals.sets import REPO_ROOT, BadEvalSet, check_evidence, load_set
from rag import Document, read_paths
from rag.settings import get_settings

HEADER = {"set": "t", "corpus": ["corpus"]}
GOOD = {"id": "a", "question": "Who?", "doc_ids": ["x"], "evidence": "someone"}


def write(tmp_path: Path, *records) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


@pytest.mark.parametrize("bad, fragment", [
    ({"id": "b", "question": "Why?", "doc_ids": ["x"]}, "needs doc_ids and evidence"),
    ({"id": "b", "question": "Why?", "answerable": False, "evidence": "q"}, "takes no doc_ids, evidence or perspectives"),
    ({"id": "b", "question": "Why?", "doc_ids": ["x"], "evidence": "q",
      "perspectives": [{"source": "s", "doc_ids": ["x"], "evidence": "q"}]}, "inside each perspective"),
    ({"id": "b", "question": "Why?", "perspectives": [{"source": "s", "doc_ids": [], "evidence": "q"}]}, "doc_ids"),
    ({"id": "b", "question": "", "doc_ids": ["x"], "evidence": "q"}, "question"),
    ({"id": "b", "question": "Why?", "doc_ids": ["x"], "evidence": "q", "colour": 1}, "colour"),
    ({**GOOD}, "id 'a' already used on line 2"),
    ("{not json", "not valid JSON"),
])
def test_errors_name_the_line(tmp_path, bad, fragment):
    path = write(tmp_path, HEADER, GOOD, bad)
    with pytest.raises(BadEvalSet) as caught:
        load_set(path)
    assert f"{path}:3:" in str(caught.value)
    assert fragment in str(caught.value)


def test_header_is_required(tmp_path):
    with pytest.raises(BadEvalSet, match=r"set\.jsonl:1: not the set header: .*corpus: Field required"):
        load_set(write(tmp_path, GOOD))
    with pytest.raises(BadEvalSet, match="no questions"):
        load_set(write(tmp_path, HEADER))


def test_evidence_must_be_verbatim_in_its_document(tmp_path):
    doc = Document(text="The talks ran into a dead end in Geneva.")
    good = {"id": "a", "question": "How did the talks go?", "doc_ids": [doc.doc_id], "evidence": "ran into a\ndead end"}
    eval_set = load_set(write(tmp_path, HEADER, good, {**good, "id": "b", "evidence": "ran into a wall"}))
    with pytest.raises(BadEvalSet, match=r"set\.jsonl:3: evidence 'ran into a wall'"):
        check_evidence(eval_set, [doc])
    with pytest.raises(BadEvalSet, match=r"set\.jsonl:2: doc id 0+ is not in"):
        check_evidence(load_set(write(tmp_path, HEADER, {**good, "doc_ids": ["0000"]})), [doc])


def test_a_perspective_must_come_from_its_source(tmp_path):
    doc = Document(text="Moscow says the alliance moved east.", source="President of Russia")
    item = {"id": "p", "question": "What does each side say?",
            "perspectives": [{"source": "The White House", "doc_ids": [doc.doc_id], "evidence": "moved east"}]}
    with pytest.raises(BadEvalSet, match=r"set\.jsonl:2: a document of the perspective 'The White House' "
                                         r"is from 'President of Russia'"):
        check_evidence(load_set(write(tmp_path, HEADER, item)), [doc])


def test_seed_set_is_valid_and_verbatim():
    eval_set = load_set(REPO_ROOT / "evals" / "seed.jsonl")
    answerable = [i for i in eval_set.items if i.answerable]
    assert len(answerable) >= 60 and len(eval_set.items) - len(answerable) >= 15
    check_evidence(eval_set, read_paths(eval_set.corpus_paths(), get_settings().source_by_host))


def test_wh_dev_set_is_valid_and_verbatim():
    eval_set = load_set(REPO_ROOT / "evals" / "wh_dev.jsonl")
    assert sum(i.answerable for i in eval_set.items) >= 40
    if eval_set.missing_corpus():
        pytest.skip(f"the team data is not here: {eval_set.missing_corpus()[0]}")
    check_evidence(eval_set, read_paths(eval_set.corpus_paths(), get_settings().source_by_host))


@pytest.mark.parametrize("name, answerable", [("kremlin_ukraine_dev", 30), ("perspectives_dev", 30),
                                              ("ukraine_small_fresh", 40)])
def test_crisis_sets_are_valid_and_verbatim(name, answerable):
    eval_set = load_set(REPO_ROOT / "evals" / f"{name}.jsonl")
    assert sum(i.answerable for i in eval_set.items) >= answerable
    if eval_set.missing_corpus():
        pytest.skip(f"the team data is not here: {eval_set.missing_corpus()[0]}")
    check_evidence(eval_set, read_paths(eval_set.corpus_paths(), get_settings().source_by_host))
