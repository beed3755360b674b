"""The MCP tools, driven by the SDK's own client over both transports: stdio (`python -m rag.cli mcp`, a real
subprocess over a real index) and streamable HTTP (`/mcp` on a real uvicorn server)."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from .conftest import ROOT
from .fixtures.api_data import KEY

pytest_plugins = ["tests.fixtures.api_server"]

QUESTION = "Why does Russia object to NATO expansion?"


@asynccontextmanager
async def stdio_session(index) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp", "--index", str(index)],
                                   env=dict(os.environ), cwd=ROOT)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(headers=headers, timeout=120) as client:
        async with streamable_http_client(f"{url}/mcp", http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def run(session_factory, check) -> None:
    async def main() -> None:
        async with session_factory() as session:
            await check(session)
    anyio.run(main)


async def check_tools_and_citations(session: ClientSession) -> None:
    """What every transport must do: list the tools with their schemas, answer with passages that are exact
    slices of their documents, and refuse bad input with a tool error."""
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"ask", "get_document"}
    ask_schema = tools["ask"].input_schema
    assert ask_schema["required"] == ["question"]
    assert {"question", "filters", "group_by", "top_k"} <= set(ask_schema["properties"])
    assert tools["get_document"].input_schema["required"] == ["doc_id"]
    assert "passages" in tools["ask"].output_schema["properties"]
    assert tools["ask"].annotations.read_only_hint

    result = await session.call_tool("ask", {"question": QUESTION, "top_k": 3})
    assert not result.is_error
    answer = result.structured_content
    assert answer == json.loads(result.content[0].text)  # the text form, for clients that read only text
    assert answer["question"] == QUESTION and not answer["abstained"]
    assert 1 <= len(answer["passages"]) <= 3
    for passage in answer["passages"]:
        got = await session.call_tool("get_document", {"doc_id": passage["doc_id"]})
        assert not got.is_error
        document = got.structured_content
        assert document["doc_id"] == passage["doc_id"] and "path" not in document
        assert document["text"][passage["char_start"]:passage["char_end"]] == passage["text"]
        assert document["text"][passage["sentence_start"]:passage["sentence_end"]] == passage["sentence"]

    missing = await session.call_tool("get_document", {"doc_id": "0" * 16})
    assert missing.is_error and "no document with this id" in missing.content[0].text
    malformed = await session.call_tool("get_document", {"doc_id": "../etc/passwd"})
    assert malformed.is_error
    assert malformed.content[0].text == "invalid arguments: doc_id: must be a document id: 16 hexadecimal digits"
    too_many = await session.call_tool("ask", {"question": QUESTION, "top_k": 1000})
    assert too_many.is_error and too_many.content[0].text.startswith("invalid arguments: top_k: ")
    misspelt = await session.call_tool("ask", {"question": QUESTION, "topk": 1})  # refused, not ignored
    assert misspelt.is_error and "topk: not an argument of ask" in misspelt.content[0].text
    assert "Traceback" not in too_many.content[0].text + malformed.content[0].text


def test_stdio_serves_the_tools_over_an_index(seed_index):
    run(lambda: stdio_session(seed_index), check_tools_and_citations)


def test_streamable_http_serves_the_tools_on_the_app(api):
    run(lambda: http_session(api.url), check_tools_and_citations)


def test_ask_takes_the_http_apis_filters_and_grouping(api):
    async def check(session: ClientSession) -> None:
        question = {"question": "Which military drills were held in Belarus?", "top_k": 5}
        wire = (await session.call_tool("ask", question | {"filters": {"source": ["example wire"]}})).structured_content
        assert wire["passages"] and {p["source"] for p in wire["passages"]} == {"Example Wire"}
        # The same answer as POST /v1/ask (took_ms aside).
        over_http = api.client.post("/v1/ask", json=question | {"filters": {"source": ["example wire"]}}).json()
        assert {**wire, "took_ms": 0} == {**over_http, "took_ms": 0}

        grouped = (await session.call_tool("ask", question | {"group_by": "source"})).structured_content
        assert grouped["group_by"] == "source" and grouped["groups"]

        unknown = await session.call_tool("ask", question | {"filters": {"source": ["Pravda"]}})
        assert unknown.is_error and "filters.source: the index has no source named 'Pravda'" in unknown.content[0].text
        inverted = await session.call_tool("ask", question | {"filters": {"published_from": "2022-02-01",
                                                                          "published_to": "2022-01-01"}})
        assert inverted.is_error and "published_to" in inverted.content[0].text
        blank = await session.call_tool("ask", {"question": "   "})
        assert blank.is_error and blank.content[0].text == "invalid arguments: question: must contain text"
        bad_date = await session.call_tool("ask", question | {"filters": {"published_from": "2022/01/01"}})
        assert bad_date.content[0].text == "invalid arguments: filters.published_from: must be a date as YYYY-MM-DD"

    run(lambda: http_session(api.url), check)


def test_the_mcp_endpoint_needs_the_read_key_when_reads_do(serve):
    server = serve(read_auth=True)
    refused = server.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                 headers={"Accept": "application/json, text/event-stream"})
    assert refused.status_code == 401 and "API key" in refused.json()["detail"]

    async def check(session: ClientSession) -> None:
        assert {tool.name for tool in (await session.list_tools()).tools} == {"ask", "get_document"}

    run(lambda: http_session(server.url, {"Authorization": f"Bearer {KEY}"}), check)


def test_the_mcp_endpoint_is_not_in_the_openapi_schema(api):
    assert not any(path.startswith("/mcp") for path in api.client.get("/openapi.json").json()["paths"])


def test_rag_mcp_without_an_index_says_so(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, "-m", "rag.cli", "mcp", "--index", str(tmp_path / "none")],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT, timeout=300)
    assert done.returncode != 0 and "no index at" in done.stderr and "Traceback" not in done.stderr


def test_a_request_naming_another_host_is_refused_on_a_loopback_server(api):
    # DNS rebinding: a page on evil.example resolving its name to 127.0.0.1 must not reach the tools.
    headers = {"Accept": "application/json, text/event-stream", "Host": "evil.example"}
    refused = api.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
    assert refused.status_code == 421


def test_the_readmes_client_configuration_names_the_command_and_the_url():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## AI assistants (MCP)", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```json\n(.*?)\n```", section, re.DOTALL)
    servers = json.loads(snippet)["mcpServers"].values()
    assert {"command": "rag", "args": ["mcp", "--index", "/path/to/index"]} in servers
    assert any(server.get("url", "").endswith(":8000/mcp") for server in servers)
