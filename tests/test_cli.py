import json

from click.testing import CliRunner

from rag.cli import main

QUESTION = "Why does Russia object to NATO expansion?"


def test_ask_json_shape(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--json", "-k", "3", QUESTION])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert {"question", "mode", "top_k", "abstained", "passages", "took_ms", "as_of"} <= answer.keys()
    assert answer["mode"] == "hybrid" and not answer["abstained"] and len(answer["passages"]) == 3
    assert set(answer["passages"][0]) >= {
        "rank", "citation", "doc_id", "chunk_id", "title", "source", "url", "published", "text",
        "sentence", "char_start", "char_end", "score",
    }


def test_ask_prints_citations_and_the_sentence(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), QUESTION])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[1] ") and "2022-01-16" in result.output and "> " in result.output


def test_ask_says_why_the_sources_cannot_answer(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "When did the invasion begin in February 2022?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("The sources do not answer this question. The sources end on 2022-01-16; "
                                    "they cannot report what happened in February 2022.")


def test_ask_refuses_an_inverted_date_range(tmp_path):
    command = ["ask", "--index", str(tmp_path), "--from", "2022-02-01", "--to", "2022-01-01", QUESTION]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2  # a usage error, found before any index is opened
    assert "Invalid value for '--to': 2022-01-01 is before --from 2022-02-01" in result.output


def test_ask_notes_a_name_no_source_mentions(seed_index):
    question = "Why does Russia object to NATO expansion, according to Zubrowski?"
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), question])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[1] ") and "\n\nNote: The sources never mention Zubrowski.\n\n(" in result.output


def test_ask_file_prints_one_json_line_per_question(seed_index, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(f"{QUESTION}\n\n" + json.dumps({"question": "Who is Keir Giles?"}) + "\n")
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--file", str(questions)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines] == [QUESTION, "Who is Keir Giles?"]


def test_errors_are_messages_not_tracebacks(tmp_path):
    result = CliRunner().invoke(main, ["ask", "--index", str(tmp_path / "none"), QUESTION])
    assert result.exit_code == 1
    assert "no index at" in result.output and "Traceback" not in result.output


def test_index_reports_documents_and_chunks(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("Talks in Geneva ended without agreement.")
    args = ["index", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "indexed: 1 documents, 1 chunks" in result.output
    again = CliRunner().invoke(main, [*args, "--if-stale"])
    assert "up to date" in again.output


def test_ask_by_source_prints_groups(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--by-source", "--json", QUESTION])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["group_by"] == "source" and answer["groups"][0]["source"] == ""  # the seed names no outlet
    assert len(answer["passages"]) == 2
    text = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--by-source", QUESTION]).stdout
    assert text.startswith("== Source not named (2022-01-16)")


def test_index_prints_documents_and_chunks_per_source(tmp_path):
    (tmp_path / "c").mkdir()
    records = [{"text": "Talks in Geneva ended without agreement.", "source": "The White House"},
               {"text": "Moscow rejected the proposal.", "source": "President of Russia"},
               {"text": "Kyiv asked for air defence.", "source": "The White House"}]
    (tmp_path / "c" / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    (tmp_path / "c" / "b.txt").write_text("A note nobody signed.")
    args = ["index", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"read 4 documents from {tmp_path / 'c'}" in result.stderr
    table = [" ".join(line.split()) for line in result.stdout.splitlines()[1:]]
    assert table == ["source documents chunks", "Source not named 1 1", "President of Russia 1 1", "The White House 2 2"]
    report = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert report["skipped"] and report["sources"][-1] == {"source": "The White House", "documents": 2, "chunks": 2}
