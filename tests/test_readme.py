"""The README's account of the HTTP API, checked against the real service."""

from __future__ import annotations

import json
import re

from .fixtures.api_data import AUTH, ROOT

pytest_plugins = ["tests.fixtures.api_server"]

README = (ROOT / "README.md").read_text()


def test_the_stream_events_are_the_ones_the_readme_names(api):
    (row,) = [line for line in README.splitlines() if line.startswith("| `POST /v1/ask/stream` |")]
    response = api.client.post("/v1/ask/stream", json={"question": "Why does Russia object to NATO expansion?"})
    sent = set(re.findall(r"^event: (\w+)$", response.text, re.MULTILINE))
    assert sent == {"passage", "answer"}
    assert set(re.findall(r"`(\w+)` event", row)) == sent


def test_the_readmes_documents_example_is_accepted(api):
    (example,) = re.findall(r"```json\n(\{\"documents\".*?)\n```", README, re.DOTALL)
    response = api.client.post("/v1/documents", json=json.loads(example), headers=AUTH)
    assert response.status_code == 201, response.text
    for doc_id in response.json()["doc_ids"]:
        assert api.client.delete(f"/v1/documents/{doc_id}", headers=AUTH).status_code == 204


def test_the_readmes_python_example_prints_cited_passages_from_the_quick_start_index(seed_index, capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("```", section.index("```python\n") + 9)]
    monkeypatch.chdir(seed_index.parent)  # the example opens "index", the quick start's folder name
    (seed_index.parent / "index").symlink_to(seed_index, target_is_directory=True)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed and printed[0].startswith("[1] ") and "2022-01-16" in printed[0]
