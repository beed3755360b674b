import json

from click.testing import CliRunner

from rag.cli import main

QUESTION = "Why does Russia object to NATO expansion?"


def test_ask_json_shape(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--json", "-k", "3", QUESTION])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert {"question", "mode", "top_k", "abstained", "passages", "took_ms", "as_of"} <= answer.keys()
    assert answer["mode"] == "hybrid" and not answer["abstained"] and len(answer["passages"]) == 3
    assert set(answer["passages"][0]) >= {
        "rank", "citation", "doc_id", "chunk_id", "title", "source", "url", "published", "text",
        "sentence", "char_start", "char_end", "score",
    }


def test_ask_prints_citations_and_the_sentence(seed_index):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), QUESTION])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("[1] ") and "2022-01-16" in result.output and "> " in result.output


def test_ask_file_prints_one_json_line_per_question(seed_index, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(f"{QUESTION}\n\n" + json.dumps({"question": "Who is Keir Giles?"}) + "\n")
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--file", str(questions)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
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
    answer = json.loads(result.output)
    assert answer["group_by"] == "source" and answer["groups"][0]["source"] == ""  # the seed names no outlet
    assert len(answer["passages"]) == 2
    text = CliRunner().invoke(main, ["ask", "--index", str(seed_index), "--by-source", QUESTION]).output
    assert text.startswith("== Source not named (2022-01-16)")
