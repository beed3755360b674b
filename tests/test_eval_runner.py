"""The eval runner end to end: the shipped seed set in every mode, a tiny BEIR dataset, and the CLI.

The model comes from conftest.py's session-wide ``embedder`` fixture.
"""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals import report
from evals.beir import DEPTH, load_beir, run_beir
from evals.runner import MODES, TOP_K, judge, run_set
from evals.sets import REPO_ROOT, Perspective, load_set
from rag import Document, Engine
from rag.cli import main


@pytest.fixture(scope="module")
def seed_result(embedder, tmp_path_factory):
    # Every third question (answerable and not) keeps the test quick; `rag eval` runs them all.
    full = load_set(REPO_ROOT / "evals" / "seed.jsonl")
    return run_set(replace(full, items=full.items[::3]), tmp_path_factory.mktemp("cache"), MODES, embedder)


def test_seed_set_scores_every_mode(seed_result):
    assert list(seed_result.scores) == list(MODES)
    for scores in seed_result.scores.values():
        assert all(0.0 <= scores.hit[k] <= scores.hit[k + 1] <= 1.0 for k in range(1, TOP_K))
        assert all(scores.sentence_hit[k] <= scores.hit[k] for k in scores.hit)
        assert scores.latency_p50 <= scores.latency_p95
    # A floor, not a target: the seed article is small enough that hybrid finds nearly every quote in its top 10.
    assert seed_result.scores["hybrid"].hit[10] >= 0.85


def test_outcomes_are_deterministic(seed_result, embedder):
    engine = Engine.open(seed_result.index_dir, embedder=embedder)
    items = seed_result.eval_set.items[::8]
    first = {(o.item_id, o.mode): replace(o, took_ms=0.0) for o in seed_result.outcomes}
    for item in items:
        for mode in MODES:
            again = replace(judge(item, engine.ask(item.question, TOP_K, mode)), took_ms=0.0)
            assert again == first[(item.id, mode)]


SIDES = {  # file -> (source, text): two sides of one question and a ceremony nobody asked about
    "moscow.md": ("President of Russia", "Moscow says NATO expansion to the east threatens the security of Russia."),
    "washington.md": ("The White House", "Washington says NATO is a defensive alliance and every nation may choose "
                                         "its own alliances."),
    "kyiv.md": ("President of Ukraine", "The President presented state awards to teachers at a ceremony in Kyiv."),
    "harvest.md": ("President of Russia", "The meeting on agriculture began. * * * President of Russia Vladimir Putin: "
                                          "Colleagues, the grain harvest was a record this year."),
}


@pytest.fixture(scope="module")
def sides_result(embedder, tmp_path_factory):
    root = tmp_path_factory.mktemp("sides")
    folder = root / "corpus"
    folder.mkdir()
    for name, (source, text) in SIDES.items():
        (folder / name).write_text(f"---\ntitle: {name}\nsource: {source}\n---\n{text}\n")
    ids = {name: Document(text=text).doc_id for name, (_, text) in SIDES.items()}
    header = {"set": "sides", "corpus": [str(folder)]}
    item = {"id": "p1", "question": "What does each side say about NATO expansion?", "perspectives": [
        {"source": "President of Russia", "doc_ids": [ids["moscow.md"]], "evidence": "threatens the security of Russia"},
        {"source": "The White House", "doc_ids": [ids["washington.md"]], "evidence": "a defensive alliance"},
    ]}
    path = root / "sides.jsonl"
    spoken = {"id": "s1", "question": "What did Putin say about this year's grain harvest?", "tags": ["speaker:Vladimir Putin"],
              "doc_ids": [ids["harvest.md"]], "evidence": "the grain harvest was a record"}
    path.write_text("\n".join(json.dumps(r) for r in (header, item, spoken)) + "\n")
    return run_set(load_set(path), tmp_path_factory.mktemp("cache"), ("hybrid",), embedder)


def test_perspective_questions_are_scored_per_side(sides_result):
    scores = sides_result.scores["hybrid"]
    outcome, spoken = sides_result.outcomes
    assert outcome.sides_covered == (True, True) and outcome.sides_grouped == (True, True)
    assert (outcome.groups_judged, outcome.groups_holding) == (2, 2)
    assert scores.perspective_coverage == scores.perspective_coverage_grouped == scores.grouped_precision == 1.0
    assert scores.distinct_source_ratio == 1.0  # three sources, and each is in the top 5
    assert spoken.sentence_rank == 1 and spoken.hit_speaker == "Vladimir Putin" and spoken.sides_covered == ()
    assert scores.speaker_accuracy == scores.speaker_named == 1.0 and scores.grouped_latency_p50 > 0
    text = report.text_table(["hybrid"], report.set_rows(sides_result))
    assert "perspective coverage@5" in text and "speaker accuracy" in text


def test_a_side_missing_from_its_group_is_not_covered(sides_result, embedder):
    item = sides_result.eval_set.items[0]
    engine = Engine.open(sides_result.index_dir, embedder=embedder)
    grouped = engine.ask(item.question, TOP_K, "hybrid", group_by="source")
    without_moscow = replace(grouped, groups=[g for g in grouped.groups if g.source != "President of Russia"])
    outcome = judge(item, engine.ask(item.question, TOP_K, "hybrid"), 3, without_moscow)
    assert outcome.sides_grouped == (False, True) and (outcome.groups_judged, outcome.groups_holding) == (1, 1)


def test_a_side_may_be_stated_in_several_places(sides_result, embedder):
    ids = {name: Document(text=text).doc_id for name, (_, text) in SIDES.items()}
    elsewhere = {"source": "The White House", "doc_ids": [ids["kyiv.md"]], "evidence": "state awards"}
    item = sides_result.eval_set.items[0].model_copy(update={"perspectives": [Perspective(**elsewhere)]})
    engine = Engine.open(sides_result.index_dir, embedder=embedder)
    answer, grouped = (engine.ask(item.question, TOP_K, "hybrid", group_by=g) for g in (None, "source"))
    assert judge(item, answer, 3, grouped).sides_grouped == (False,)
    also = Perspective(**elsewhere, also=[{"doc_ids": [ids["washington.md"]], "evidence": "a defensive alliance"}])
    assert judge(item.model_copy(update={"perspectives": [also]}), answer, 3, grouped).sides_grouped == (True,)


def test_report_has_table_and_plot(seed_result, tmp_path):
    text = report.text_table(list(MODES), report.set_rows(seed_result))
    assert "hit@1 (evidence span)" in text and "abstain recall" in text
    path = report.write_set_report(seed_result, tmp_path)
    assert "| metric | bm25 | dense | hybrid |" in path.read_text()
    assert (tmp_path / "seed.png").read_bytes().startswith(b"\x89PNG")
    json.dumps(report.set_json(seed_result))  # serialisable as is


def tiny_beir(folder: Path) -> Path:
    corpus = [
        {"_id": "a", "title": "Pipelines", "text": "Nord Stream 2 carries Russian gas under the Baltic Sea to Germany."},
        {"_id": "b", "title": "Cyber", "text": "About 70 Ukrainian government websites went offline after a cyber-attack."},
        {"_id": "b2", "title": "Cyber copy", "text": "About 70 Ukrainian government websites went offline after a cyber-attack."},
        {"_id": "c", "title": "Talks", "text": "Negotiators met in Geneva, Brussels and Vienna in January."},
    ]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in [
        {"_id": "1", "text": "Which pipeline runs under the Baltic?"},
        {"_id": "2", "text": "How many government websites were hacked?"},
        {"_id": "3", "text": "Where were the January talks held?"},
    ]))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\ta\t1\n2\tb\t1\n3\tc\t1\n")
    return folder


def test_beir_maps_duplicate_texts_to_every_id(tmp_path, embedder):
    folder = tiny_beir(tmp_path / "tiny")
    data = load_beir(folder, "test")
    assert len(data.documents) == 3 and sorted(data.beir_ids[data.documents[1].doc_id]) == ["b", "b2"]
    result = run_beir(folder, "test", tmp_path / "cache", MODES, embedder)
    assert result.scores["dense"].ndcg == pytest.approx(1.0) and result.scores["hybrid"].mrr == pytest.approx(1.0)
    assert {"b", "b2"} <= set(result.runs["dense"]["2"]) and len(result.scores["bm25"].recall_curve) == DEPTH


def test_cli_skips_a_set_whose_corpus_is_absent(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"set": "gone", "corpus": [str(tmp_path / "nowhere")]}) + "\n"
                    + json.dumps({"id": "a", "question": "Who?", "answerable": False}) + "\n")
    result = CliRunner().invoke(main, ["eval", "--set", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "is not here" in json.loads(result.stdout)["skipped"]


def test_cli_runs_a_set_over_another_corpus(sides_result, tmp_path):
    # The set's own corpus is gone; --corpus names where its documents are now.
    path = tmp_path / "set.jsonl"
    item = sides_result.eval_set.items[0].model_dump(exclude_defaults=True)
    path.write_text(json.dumps({"set": "moved", "corpus": [str(tmp_path / "nowhere")]}) + "\n" + json.dumps(item) + "\n")
    folder = sides_result.eval_set.corpus_paths()[0]
    result = CliRunner().invoke(main, ["eval", "--set", str(path), "--corpus", str(folder), "--mode", "hybrid",
                                       "--cache-dir", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["corpus"] == [str(folder.resolve())] and data["modes"]["hybrid"]["perspective_coverage"] == 1.0


def test_cli_reports_bad_sets_without_a_traceback(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"set": "bad"}\n')
    result = CliRunner().invoke(main, ["eval", "--set", str(path)])
    assert result.exit_code == 1 and f"{path}:1: not the set header: corpus: Field required" in result.output
