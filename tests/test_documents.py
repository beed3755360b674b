import json

import pytest

from rag import BadDocument, read_paths
from rag.documents import document_id, read_path

from .conftest import SEED

WH_RECORD = {
    "id": "statements-releases/2022-01/x", "path": "x.md", "date": "2022-01-10",
    "title": "Readout of a Call", "category": "statements-releases",
    "source_url": "https://bidenwhitehouse.archives.gov/briefing-room/statements-releases/2022/01/10/x/",
    "text": "The officials discussed the security situation in Europe.",
}


def test_markdown_front_matter_becomes_metadata():
    doc = next(read_path(SEED))
    assert doc.published == "2022-01-16"
    assert "inferred" in doc.extra["published_note"].lower()
    assert doc.title == doc.source == doc.url == ""  # unknown stays empty, never invented
    assert doc.text.startswith("THIS time last week")


def test_jsonl_maps_white_house_fields(tmp_path):
    path = tmp_path / "wh.jsonl"
    path.write_text(json.dumps(WH_RECORD) + "\n\n")
    [doc] = read_paths([path], {"bidenwhitehouse.archives.gov": "The White House"})
    assert (doc.published, doc.source, doc.title) == ("2022-01-10", "The White House", "Readout of a Call")
    assert doc.url == WH_RECORD["source_url"]
    assert doc.extra["category"] == "statements-releases"


def test_html_keeps_main_text_and_drops_navigation(tmp_path):
    page = tmp_path / "page.html"
    body = " ".join(["Diplomats met in Vienna to discuss de-escalation on the Ukrainian border."] * 5)
    page.write_text(
        "<html><head><title>Talks in Vienna</title></head><body><nav><a href='/'>Home</a> | <a href='/x'>Sport</a></nav>"
        f"<article><h1>Talks in Vienna</h1><p>{body}</p><p>{body}</p></article>"
        "<footer>Copyright 2022 Example News. All rights reserved.</footer></body></html>"
    )
    [doc] = read_paths([page])
    assert "Diplomats met in Vienna" in doc.text
    assert "Sport" not in doc.text and "All rights reserved" not in doc.text
    assert doc.title == "Talks in Vienna"


def test_same_text_is_one_document(tmp_path):
    (tmp_path / "a.txt").write_text("Talks ended.\n\nNo   deal was reached.")
    (tmp_path / "b.txt").write_text("  Talks ended. No deal\nwas reached.  ")  # re-wrapped copy under another name
    docs = read_paths([tmp_path])
    assert len(docs) == 1
    assert docs[0].doc_id == document_id("Talks ended. No deal was reached.")


def test_a_folder_read_skips_files_about_the_data(tmp_path):
    (tmp_path / "PROVENANCE.md").write_text("Collected from kremlin.ru in 2026.")
    (tmp_path / "LICENSE_CC0.txt").write_text("No rights reserved.")
    (tmp_path / "readme.txt").write_text("How these files were made.")
    (tmp_path / "licensing-talks.txt").write_text("The talks on export licensing resumed.")
    (tmp_path / "data.jsonl").write_text(json.dumps(WH_RECORD) + "\n")
    assert sorted(d.text for d in read_paths([tmp_path])) == [
        "The officials discussed the security situation in Europe.", "The talks on export licensing resumed."]
    assert read_paths([tmp_path / "PROVENANCE.md"])[0].text == "Collected from kremlin.ru in 2026."  # named: read


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "ok"}\n{oops\n', "bad.jsonl:2: not valid JSON"),
        ("notext.jsonl", '{"title": "x"}\n', "needs a string field 'text'"),
        ("bad.md", "---\ntitle: [unclosed\n---\nbody", "front matter is not valid YAML"),
        ("date.md", "---\npublished: last week\n---\nbody", "not an ISO date"),
        ("empty.txt", "   \n", "no text"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(BadDocument, match=message):
        read_paths([tmp_path / name])
