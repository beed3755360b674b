"""The HTTP API against a real uvicorn server and a real index: every endpoint, and every way to call it wrong."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import httpx
import pytest
from click.testing import CliRunner

from api.cli import serve as serve_command
from api.models import AnswerOut, PassageOut, SourceGroupOut
from api.settings import ApiSettings
from rag import Answer, Document, Passage, build_index, read_paths
from rag.models import SourceGroup

from .fixtures.api_data import ALLOWED_ORIGIN, AUTH, SOURCES

pytest_plugins = ["tests.fixtures.api_server"]

NATO = "Why does Russia object to NATO expansion?"


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def wait_for(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# --- asking ---------------------------------------------------------------------------------------------

def test_ask_returns_the_cli_json_plus_what_was_searched(api):
    response = api.client.post("/v1/ask", json={"question": NATO, "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    expected = api.engine.ask(NATO, top_k=3).to_dict()  # what `rag ask --json` prints
    assert {k: v for k, v in body.items() if k not in ("took_ms", "searched")} == \
        {k: v for k, v in expected.items() if k != "took_ms"}
    assert body["searched"] == NATO
    assert not body["abstained"] and len(body["passages"]) == 3
    assert any("breaking promises" in p["text"] for p in body["passages"])


def test_the_documented_answer_has_every_field_of_the_engines():
    # The API's models carry the field descriptions; this keeps them in step with rag's dataclasses.
    assert set(AnswerOut.model_fields) == {f.name for f in dataclasses.fields(Answer)} | {"searched"}
    assert set(PassageOut.model_fields) == {f.name for f in dataclasses.fields(Passage)}
    assert set(SourceGroupOut.model_fields) == {f.name for f in dataclasses.fields(SourceGroup)}


def test_answers_can_be_grouped_by_source(api):
    body = api.client.post("/v1/ask", json={"question": "Which military drills were held in Belarus?",
                                            "group_by": "source", "per_group": 1}).json()
    assert body["group_by"] == "source" and body["groups"]
    assert {g["source"] for g in body["groups"]} | set(body["not_addressed"]) >= {"Example Wire"}
    assert all(len(g["citations"]) == 1 for g in body["groups"])


def test_a_request_can_ask_for_the_rerank_mode(api):
    body = api.client.post("/v1/ask", json={"question": NATO, "top_k": 3, "mode": "rerank"}).json()
    assert body["mode"] == "rerank" and len(body["passages"]) == 3
    # The reread candidates are the hybrid ranking's; only their order may change.
    hybrid = api.engine.ask(NATO, top_k=api.engine.settings.rerank_candidates)
    assert {p["chunk_id"] for p in body["passages"]} <= {p.chunk_id for p in hybrid.passages}


def test_get_ask_answers_like_post(api):
    got = api.client.get("/v1/ask", params={"q": NATO, "top_k": 2, "mode": "bm25"}).json()
    posted = api.client.post("/v1/ask", json={"question": NATO, "top_k": 2, "mode": "bm25"}).json()
    assert got["passages"] == posted["passages"] and got["mode"] == "bm25"


def test_stream_sends_each_passage_then_the_whole_answer(api):
    response = api.client.post("/v1/ask/stream", json={"question": NATO, "top_k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["passage"] * 3 + ["answer"]
    answer = events[-1][1]
    assert [data for _, data in events[:-1]] == answer["passages"]
    assert answer["question"] == answer["searched"] == NATO


def test_stream_refuses_bad_input_before_streaming(api):
    response = api.client.post("/v1/ask/stream", json={"question": " "})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"


def test_a_follow_up_is_searched_with_the_previous_question(api):
    conversation = [{"role": "user", "text": "Why did Russia send paratroopers to Belarus?"},
                    {"role": "assistant", "text": "[1] Russian troops arrived in Belarus for joint drills."}]
    body = api.client.post("/v1/ask", json={"question": "and what about Kazakhstan?", "top_k": 1,
                                            "conversation": conversation}).json()
    assert body["question"] == "and what about Kazakhstan?"
    assert body["searched"] == "Why did Russia send paratroopers to Kazakhstan?"
    assert "paratroopers" in body["passages"][0]["text"]


def test_filters_restrict_sources_and_dates(api):
    question = {"question": "Which military drills were held in Belarus?", "top_k": 5}
    wire = api.client.post("/v1/ask", json=question | {"filters": {"source": ["example wire"]}}).json()
    assert wire["passages"] and {p["source"] for p in wire["passages"]} == {"Example Wire"}
    early = api.client.post("/v1/ask", json=question | {"filters": {"published_to": "2022-01-17"}}).json()
    assert all(p["published"] <= "2022-01-17" for p in early["passages"])
    future = api.client.post("/v1/ask", json=question | {"filters": {"published_from": "2031-01-01"}})
    assert future.status_code == 422 and future.json()["detail"][0]["loc"] == ["body", "filters", "published_from"]
    assert "no document is published in this date range (the sources span" in future.json()["detail"][0]["msg"]
    unknown = api.client.post("/v1/ask", json=question | {"filters": {"source": ["Example Wire", "Pravda"]}})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "filters", "source"]
    assert "no source named 'Pravda' (it has " in unknown.json()["detail"][0]["msg"]
    later = api.client.post("/v1/ask", json={"question": "Which drills were held in Belarus in May 2022?"}).json()
    assert later["abstained"] and later["note"].endswith("they cannot report what happened in May 2022.")


LONG = "x" * 5000


@pytest.mark.parametrize(("body", "loc"), [
    ({}, ["body", "question"]),
    ({"question": ""}, ["body", "question"]),
    ({"question": " \n\t "}, ["body", "question"]),
    ({"question": "\u3000\u2003"}, ["body", "question"]),  # ideographic and em spaces
    ({"question": LONG}, ["body", "question"]),
    ({"question": 42}, ["body", "question"]),
    ({"question": "ok", "top_k": 0}, ["body", "top_k"]),
    ({"question": "ok", "top_k": 101}, ["body", "top_k"]),
    ({"question": "ok", "top_k": "many"}, ["body", "top_k"]),
    ({"question": "ok", "mode": "fuzzy"}, ["body", "mode"]),
    ({"question": "ok", "group_by": "author"}, ["body", "group_by"]),
    ({"question": "ok", "per_group": 0}, ["body", "per_group"]),
    ({"question": "ok", "filters": []}, ["body", "filters"]),
    ({"question": "ok", "filters": {"source": "The White House"}}, ["body", "filters", "source"]),
    ({"question": "ok", "filters": {"published_from": "2022-02-30"}}, ["body", "filters", "published_from"]),
    ({"question": "ok", "filters": {"published_to": "last week"}}, ["body", "filters", "published_to"]),
    ({"question": "ok", "conversation": [{"role": "bot", "text": "hi"}]}, ["body", "conversation", 0, "role"]),
    ({"question": "ok", "conversation": {"role": "user"}}, ["body", "conversation"]),
])
def test_bad_questions_are_422_naming_the_field(api, body, loc):
    response = api.client.post("/v1/ask", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert len(response.text) < 600 and LONG[:100] not in response.text  # no more than a prefix echoed



@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/v1/ask", {"question": NATO, "topk": 3}, ["body", "topk"]),
    ("/v1/ask/stream", {"question": NATO, "topk": 3}, ["body", "topk"]),
    ("/v1/ask", {"question": NATO, "filters": {"sources": ["The White House"]}}, ["body", "filters", "sources"]),
    ("/v1/ask", {"question": NATO, "conversation": [{"role": "user", "text": "hi", "at": 1}]},
     ["body", "conversation", 0, "at"]),
    ("/v1/documents", {"documents": [{"text": "Talks ended."}], "replace": True}, ["body", "replace"]),
    ("/v1/documents", {"documents": [{"text": "Talks ended.", "date": "2022-01-13"}]}, ["body", "documents", 0, "date"]),
])
def test_unknown_fields_are_422_naming_them(api, path, body, loc):
    response = api.client.post(path, json=body, headers=AUTH)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_values_failing_a_pattern_are_told_what_is_wrong_in_words(api):
    for response in (api.client.post("/v1/ask", json={"question": " \t "}), api.client.get("/v1/ask", params={"q": "  "})):
        assert response.status_code == 422
        assert [error["msg"] for error in response.json()["detail"]] == ["must contain text"]
    document = {"text": "\n", "url": "ftp://example.org/talks"}
    errors = api.client.post("/v1/documents", json={"documents": [document]}, headers=AUTH).json()["detail"]
    assert {error["loc"][-1]: error["msg"] for error in errors} == {
        "text": "must contain text", "url": "must be an http or https URL with an ASCII host name"}
    (error,) = api.client.get("/v1/documents/not-an-id").json()["detail"]
    assert error["loc"] == ["path", "doc_id"] and error["msg"] == "must be a document id: 16 hexadecimal digits"

def test_an_inverted_date_range_is_422_naming_published_to(api):
    dates = {"published_from": "2022-02-01", "published_to": "2022-01-01"}
    response = api.client.post("/v1/ask", json={"question": NATO, "filters": dates})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "filters", "published_to"]
    assert error["msg"] == "must not be before published_from (2022-02-01)"
    same_day = {"published_from": "2022-01-16", "published_to": "2022-01-16"}
    assert api.client.post("/v1/ask", json={"question": NATO, "filters": same_day}).status_code == 200

@pytest.mark.parametrize(("params", "field"), [
    ({"q": "  "}, "q"), ({"q": "\x00"}, "q"), ({}, "q"), ({"q": LONG}, "q"),
    ({"q": "ok", "top_k": 0}, "top_k"), ({"q": "ok", "mode": "semantic"}, "mode"),
])
def test_bad_query_strings_are_422_naming_the_field(api, params, field):
    response = api.client.get("/v1/ask", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
    assert LONG[:100] not in response.text


def test_malformed_json_is_refused_without_a_5xx(api):
    for body in [b'{"question": ', b"\xff\xfe", b"[" * 100_000, b'"just a string"']:
        response = api.client.post("/v1/ask", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422), body[:20]


@pytest.mark.parametrize("question", [
    "Почему Россия возражает против расширения НАТО?", "لماذا تعارض روسيا توسع الناتو؟", "北约东扩为什么让俄罗斯不满？",
    "🇺🇦🕊️❓", "NATO\x00expansion", "\u200b\u200f NATO \u202e", "\x1c\x1d", "\U0010ffff", "e\u0301" * 300,
])
def test_questions_in_any_script_are_answered(api, question):
    response = api.client.post("/v1/ask", json={"question": question})
    assert response.status_code in (200, 422)
    assert api.client.get("/v1/ask", params={"q": question}).status_code in (200, 422)


def test_lone_surrogates_and_invalid_utf8_are_never_a_5xx(api):
    # JSON escapes of lone surrogates pass Python's parser; they must not reach an encoder.
    escaped = b'{"question": "\\ud800 NATO \\udfff", "conversation": [{"role": "user", "text": "\\udbff"}]}'
    response = api.client.post("/v1/ask", content=escaped, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["question"] == "\ufffd NATO \ufffd"
    assert api.client.get("/v1/ask?q=%ED%A0%80%FF%FE").status_code == 200


# --- documents ------------------------------------------------------------------------------------------

def test_documents_are_listed_in_pages_with_chunk_counts(api):
    everything = api.client.get("/v1/documents").json()
    stats = api.engine.store.stats()
    assert everything["total"] == len(everything["documents"]) == stats.documents
    assert sum(d["chunks"] for d in everything["documents"]) == stats.chunks
    wire = next(d for d in everything["documents"] if d["source"] == "Example Wire")
    assert wire["url"] == "https://example.org/wire/belarus-drills" and wire["chunks"] >= 1
    page = api.client.get("/v1/documents", params={"offset": 1, "limit": 1}).json()
    assert page["documents"] == everything["documents"][1:2] and page["total"] == everything["total"]
    assert api.client.get("/v1/documents", params={"limit": 0}).status_code == 422
    assert api.client.get("/v1/documents", params={"offset": -1}).status_code == 422


def test_a_document_has_its_full_text_for_the_offsets_of_passages(api):
    passage = api.client.post("/v1/ask", json={"question": NATO, "top_k": 1}).json()["passages"][0]
    document = api.client.get(f"/v1/documents/{passage['doc_id']}").json()
    assert document["text"][passage["char_start"]:passage["char_end"]] == passage["text"]
    assert document["text"][passage["sentence_start"]:passage["sentence_end"]] == passage["sentence"]
    assert "path" not in document and document["published"] == "2022-01-16"
    assert api.client.get("/v1/documents/0123456789abcdef").status_code == 404
    assert api.client.get("/v1/documents/not-an-id").status_code == 422


def test_writes_without_the_right_key_are_refused_and_change_nothing(api):
    before = api.client.get("/readyz").json()
    doc_id = api.client.get("/v1/documents").json()["documents"][0]["doc_id"]
    new = {"documents": [{"text": "A document nobody may add."}]}
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": "Basic eDp5"}, 401)]:
        added = api.client.post("/v1/documents", json=new, headers=headers)
        deleted = api.client.delete(f"/v1/documents/{doc_id}", headers=headers)
        assert (added.status_code, deleted.status_code) == (status, status)
    assert added.json() == {"detail": "an API key is required: Authorization: Bearer <key>"}
    assert api.client.post("/v1/documents", json=new).headers["www-authenticate"] == "Bearer"
    assert api.client.get("/readyz").json() == before


def test_added_documents_are_searchable_replaced_by_url_and_deleted(api):
    url = "https://example.org/wire/harbour"
    first = {"text": "The harbour of Odesa froze for the first time in forty winters.", "url": url,
             "title": "Harbour frozen", "published": "2022-01-21", "extra": {"desk": "weather"}}
    added = api.client.post("/v1/documents", json={"documents": [first]}, headers=AUTH)
    assert added.status_code == 201
    (old_id,) = added.json()["doc_ids"]
    assert added.json()["index"]["documents"] == api.engine.store.stats().documents
    hit = api.client.post("/v1/ask", json={"question": "Did the harbour of Odesa freeze?", "top_k": 1}).json()
    assert hit["passages"][0]["doc_id"] == old_id and hit["passages"][0]["url"] == url
    assert api.client.get(f"/v1/documents/{old_id}").json()["extra"] == {"desk": "weather"}

    second = first | {"text": "The harbour of Odesa stayed open all winter, its master said."}
    (new_id,) = api.client.post("/v1/documents", json={"documents": [second]}, headers=AUTH).json()["doc_ids"]
    assert api.client.get(f"/v1/documents/{old_id}").status_code == 404  # same URL: replaced
    assert api.client.get(f"/v1/documents/{new_id}").json()["text"] == second["text"]

    assert api.client.delete(f"/v1/documents/{new_id}", headers=AUTH).status_code == 204
    assert api.client.get(f"/v1/documents/{new_id}").status_code == 404
    assert api.client.delete(f"/v1/documents/{new_id}", headers=AUTH).status_code == 404
    after = api.client.post("/v1/ask", json={"question": "Did the harbour of Odesa freeze?"}).json()
    assert all(p["url"] != url for p in after["passages"])


@pytest.mark.parametrize(("document", "loc"), [
    ({"text": "  \n "}, ["body", "documents", 0, "text"]),
    ({"text": "ok", "url": "javascript:alert(1)"}, ["body", "documents", 0, "url"]),
    ({"text": "ok", "published": "2022-02-30"}, ["body", "documents", 0, "published"]),
    ({"text": "ok", "extra": {"date": "soon"}}, ["body", "documents", 0]),  # an alias of `published`
    ({"title": "no text"}, ["body", "documents", 0, "text"]),
])
def test_bad_documents_are_422_naming_the_field(api, document, loc):
    response = api.client.post("/v1/documents", json={"documents": [document]}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_documents_with_odd_text_are_stored_without_a_5xx(api):
    body = '{"documents": [{"text": "Odd \\ud800 text \\u0000 with \U0001f54a\ufe0f", "extra": {"\\udc00": "\\udfff"}}]}'
    response = api.client.post("/v1/documents", content=body.encode(), headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 201
    (doc_id,) = response.json()["doc_ids"]
    assert api.client.get(f"/v1/documents/{doc_id}").json()["text"] == "Odd \ufffd text \x00 with \U0001f54a\ufe0f"
    assert api.client.delete(f"/v1/documents/{doc_id}", headers=AUTH).status_code == 204


# --- limits, CORS, failures -----------------------------------------------------------------------------

def test_bodies_over_the_limit_are_413_in_json(serve):
    server = serve(max_body_bytes=4096)
    refusal = {"detail": "the body is larger than 4096 bytes"}
    big = {"documents": [{"text": "word " * 2000}]}
    declared = server.client.post("/v1/documents", json=big, headers=AUTH | {"Origin": ALLOWED_ORIGIN})
    assert declared.status_code == 413 and declared.json() == refusal
    assert declared.headers["access-control-allow-origin"] == ALLOWED_ORIGIN  # a widget elsewhere can read it
    chunks = (b'{"question": "' + b"x" * 1000 + b'"}' if i == 0 else b" " * 1000 for i in range(8))
    streamed = server.client.post("/v1/ask", content=chunks, headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and streamed.json() == refusal  # no Content-Length: counted as it arrives
    assert server.client.post("/v1/ask", json={"question": NATO}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/ask/stream", "/v1/documents"])
def test_a_body_not_sent_as_json_is_told_to_send_json(api, path):
    refusal = {"detail": "the body must be JSON, sent with Content-Type: application/json"}
    form = api.client.post(path, data={"question": NATO}, headers=AUTH)  # application/x-www-form-urlencoded
    assert form.status_code == 415 and form.json() == refusal
    text = api.client.post(path, content=json.dumps({"question": NATO}), headers=AUTH | {"Content-Type": "text/plain"})
    assert text.status_code == 415 and text.json() == refusal
    assert "415" in api.client.get("/openapi.json").json()["paths"][path]["post"]["responses"]


def test_too_many_requests_from_one_client_are_429(serve):
    server = serve(rate_limit="3/minute")
    statuses = [server.client.get("/v1/ask", params={"q": "NATO"}).status_code for _ in range(3)]
    refused = server.client.post("/v1/ask", json={"question": NATO})
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0 and "at most 3 per 1 minute" in refused.json()["detail"]
    assert server.client.get("/v1/documents").status_code == 429  # one budget for the whole API
    assert server.client.get("/healthz").status_code == 200  # probes are not limited
    assert server.client.get("/readyz").status_code == 200


def test_reads_can_require_a_key(serve):
    server = serve(read_auth=True)
    assert server.client.get("/v1/ask", params={"q": "NATO"}).status_code == 401
    assert server.client.get("/v1/documents", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert server.client.get("/v1/ask", params={"q": "NATO"}, headers=AUTH).status_code == 200
    assert server.client.get("/healthz").status_code == 200
    schema = server.client.get("/openapi.json").json()
    assert schema["paths"]["/v1/ask"]["get"]["security"] == [{"HTTPBearer": []}]


def test_cors_allows_only_the_configured_origins(api):
    allowed = api.client.get("/v1/ask", params={"q": "NATO"}, headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    other = api.client.get("/v1/ask", params={"q": "NATO"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = api.client.options("/v1/ask/stream", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and "content-type" in preflight.headers["access-control-allow-headers"].lower()
    refused = api.client.options("/v1/ask/stream", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 400


def test_a_wildcard_origin_cannot_go_with_credentials():
    with pytest.raises(ValueError, match="may not contain"):
        ApiSettings(_env_file=None, cors_origins=["*"], cors_allow_credentials=True)
    with pytest.raises(ValueError):
        ApiSettings(_env_file=None, rate_limit="lots")


def test_internal_errors_are_a_generic_500(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/srv/secret/store.sqlite is on fire")

    monkeypatch.setattr(api.engine, "documents", broken)
    # After an unhandled error the server closes the connection once the 500 is sent: a client of its own, so
    # that the shared client's next request (the next test's) does not go out on that closing connection.
    with httpx.Client(base_url=api.url, timeout=60) as client:
        response = client.get("/v1/documents")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}


# --- health, metrics, index changes ---------------------------------------------------------------------

def test_health_readiness_and_metrics(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz").json()
    stats = api.engine.store.stats()
    sources = ready.pop("sources")
    assert ready == {"status": "ready", "model": "all-MiniLM-L6-v2", "generation": stats.version, "problem": None,
                     "documents": stats.documents, "chunks": stats.chunks}
    # By name: the seed, which names no outlet, then the fixture file's two outlets (one with markup in it).
    names = [s["source"] for s in sources]
    assert names[0] == "" and names[1].endswith("Hostile Gazette") and names[2] == "Example Wire"
    assert [s["documents"] for s in sources] == [1, 1, 1]
    assert all(s["chunks"] >= 1 for s in sources) and sum(s["chunks"] for s in sources) == ready["chunks"]
    api.client.post("/v1/ask", json={"question": NATO})
    api.client.get("/v1/documents/0123456789abcdef")
    metrics = api.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{handler="/v1/ask",method="POST",status="2xx"}' in metrics.text
    assert 'http_requests_total{handler="/v1/documents/{doc_id}",method="GET",status="4xx"}' in metrics.text
    assert 'http_request_duration_seconds_bucket{handler="/v1/ask",le="0.1",method="POST"}' in metrics.text


def test_readiness_waits_for_an_index_then_serves_it(serve, embedder, chunker):
    server = serve(copy_index=False)
    assert server.client.get("/readyz").status_code == 503
    assert server.client.post("/v1/ask", json={"question": NATO}).status_code == 503
    build_index(server.app.state.settings.index_dir, read_paths(SOURCES[:1]), embedder, chunker)  # `rag index`
    wait_for(lambda: server.client.get("/readyz").status_code == 200)
    ready = server.client.get("/readyz").json()
    assert ready["documents"] == 1 and ready["sources"] == [{"source": "", "documents": 1, "chunks": ready["chunks"]}]
    assert not server.client.post("/v1/ask", json={"question": NATO}).json()["abstained"]


def test_questions_are_answered_while_documents_are_added_and_the_corpus_is_indexed(serve, embedder, chunker):
    server = serve()
    statuses: list[int] = []
    done = threading.Event()

    def ask_until_done() -> None:
        # At least a few questions even when the writes and the rebuild are quick (a CI run did five in all).
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not done.is_set() or len(statuses) < 6:
                statuses.append(client.post("/v1/ask", json={"question": NATO, "top_k": 3}).status_code)

    asker = threading.Thread(target=ask_until_done)
    asker.start()
    try:
        for i in range(3):
            document = {"text": f"Bulletin {i}: the ferry to Batumi sailed {i + 2} hours late.",
                        "url": f"https://example.org/bulletin/{i}"}
            assert server.client.post("/v1/documents", json={"documents": [document]}, headers=AUTH).status_code == 201
        # Another process syncs the corpus (`rag index`); the server switches to it, and the documents
        # added over HTTP are still there (only the corpus's own documents are the sync's to change).
        extra = Document(text="The ferry to Batumi was cancelled on Sunday.", url="https://example.org/bulletin/x")
        build_index(server.app.state.settings.index_dir, [*read_paths(SOURCES), extra], embedder, chunker)
        wait_for(lambda: server.client.get("/readyz").json()["documents"] == 4 + 3)
    finally:
        done.set()
        asker.join()
    assert set(statuses) == {200}
    assert server.client.get("/v1/ask", params={"q": "Was the ferry to Batumi cancelled?"}).json()["passages"]
    listed = server.client.get("/v1/documents").json()["documents"]
    assert {f"https://example.org/bulletin/{i}" for i in range(3)} <= {d["url"] for d in listed}


def test_rag_serve_has_help():
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0 and "--index" in result.output
