"""The widget and its demo page, in headless Chromium: questions answered with cited passages, and hostile
source text shown as inert text. Screenshots go to artifacts/."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from rag import Document

from .fixtures.api_data import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytest_plugins = ["tests.fixtures.api_server"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts"
NATO = "Why does Russia object to NATO expansion?"
ZEPPELIN = "Why was the zeppelin festival in Tallinn cancelled?"

browser_test = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


def test_widget_script_and_demo_page_are_served(api):
    script = api.client.get("/widget.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text  # text nodes only
    page = api.client.get("/")
    assert page.headers["content-type"].startswith("text/html") and 'src="/widget.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_documentation_loads_only_files_the_service_serves(api, path):
    page = api.client.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets), assets
    for url in assets:
        assert api.client.get(url).status_code == 200, url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@contextmanager
def open_page(browser: Browser, url: str, html: str | None = None) -> Iterator[Page]:
    """A page at ``url`` (served ``html`` instead, when given) that fails the test on any script error."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    if html is not None:
        page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(url)
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture
def page(browser, api):
    with open_page(browser, api.url + "/") as page:
        yield page


def ask(page, question: str, answers: int) -> None:
    page.fill("#crisis-qa-question", question)
    page.press("#crisis-qa-question", "Enter")
    page.locator(".turn").nth(answers - 1).locator(".passage").first.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-crisis-qa]').shadowRoot"
                           ".querySelector('form button').disabled")


@browser_test
@pytest.mark.parametrize(("path", "operation", "tried_outside"), [
    ("/docs", ".opblock", []),  # nothing at all from outside
    # ReDoc's footer shows Redocly's logo from their site; without it the page is whole.
    ("/redoc", "[data-section-id^='operation/']", ["https://cdn.redoc.ly/redoc/logo-mini.svg"]),
])
def test_the_api_documentation_renders_without_internet(browser, api, path, operation, tried_outside):
    page = browser.new_page()
    outside: list[str] = []
    page.route(re.compile(r"^(?!http://127\.0\.0\.1:)"),
               lambda route: (outside.append(route.request.url), route.abort()))
    page.goto(api.url + path)
    page.locator(operation).first.wait_for(timeout=20_000)
    assert page.locator(operation).count() >= 5  # the operations of the schema, drawn
    assert set(outside) <= set(tried_outside)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"api-{path.strip('/')}.png"))
    page.close()


@browser_test
def test_a_question_gets_cited_passages_with_the_sentence_highlighted(page, api):
    ask(page, NATO, answers=1)
    expected = api.client.post("/v1/ask", json={"question": NATO}).json()["passages"]
    cards = page.locator(".turn").first.locator(".passage")
    assert cards.count() == len(expected)
    first = cards.first
    assert first.locator(".cite").inner_text() == "[1]"
    assert first.locator("mark").inner_text() == expected[0]["sentence"]
    assert "2022" in first.locator(".meta").inner_text()  # 2022-01-16, in the reader's locale
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-demo.png"), full_page=True)

    ask(page, "and what about Kazakhstan?", answers=2)
    follow_up = page.locator(".turn").nth(1)
    assert follow_up.locator(".note").inner_text() == "Searched for: Why does Russia object to Kazakhstan?"
    assert "Kazakhstan" in follow_up.locator(".passage").all_inner_texts()[0]  # the new topic's passage first


@browser_test
def test_a_question_about_after_the_sources_says_why_it_has_no_answer(page):
    page.fill("#crisis-qa-question", "What did NATO decide at its summit in June 2022?")
    page.press("#crisis-qa-question", "Enter")
    status = page.locator(".turn .status")
    status.filter(has_text="cannot report").wait_for()
    assert status.inner_text().startswith("The sources do not answer this question. The sources end on 2022-")
    assert status.inner_text().endswith("; they cannot report what happened in June 2022.")
    assert page.locator(".turn .passage").count() == 0


@browser_test
def test_a_name_no_source_mentions_is_noted_under_the_passages(page):
    ask(page, "Why does Russia object to NATO expansion, according to Zubrowski?", answers=1)
    assert page.locator(".turn .passage").count() > 0
    assert page.locator(".turn .status").inner_text() == "The sources never mention Zubrowski."


@browser_test
def test_hostile_source_text_is_shown_as_inert_text(page, api):
    ask(page, ZEPPELIN, answers=1)
    hostile = next(p for p in api.client.post("/v1/ask", json={"question": ZEPPELIN}).json()["passages"]
                   if "zeppelin" in p["text"])
    card = page.locator(".passage", has_text="zeppelin")
    assert page.evaluate("() => window.__xss") is None  # nothing in the source ran
    assert card.locator("img, script, b, a").count() == 0  # markup and the javascript: URL stayed text
    assert card.locator(".title").inner_text() == hostile["title"]
    assert "<script>window.__xss='script'</script>" in card.locator(".text").inner_text()
    # Emoji before it take two UTF-16 units each: offsets must still land on the sentence.
    assert card.locator("mark").inner_text() == hostile["sentence"]
    assert hostile["sentence"].startswith("The zeppelin festival")
    wire = page.locator(".passage", has_text="Allied Resolve")
    if wire.count():  # a real link for an https URL, opened safely
        link = wire.locator("a.title")
        assert link.get_attribute("href") == "https://example.org/wire/belarus-drills"
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-hostile.png"), full_page=True)


# Three sides of the crisis and a source on something else: Moscow twice (a transcript with a speaker's
# label, and a speech two months later), Washington once (with a link that must stay text), Kyiv off topic.
SIDES = [
    Document(text="Question: What are your demands on security? Vladimir Putin: We were promised that NATO would not "
                  "move an inch to the east. They deceived us. Further NATO expansion to the east is unacceptable.",
             title="Annual news conference", source="President of Russia", published="2021-12-23",
             url="http://en.kremlin.ru/events/president/news/67438"),
    Document(text="The expansion of NATO and its military infrastructure towards Russia's borders threatens our "
                  "security. The alliance ignored our proposals on security guarantees.",
             title="Address by the President", source="President of Russia", published="2022-02-21",
             url="http://en.kremlin.ru/events/president/news/67828"),
    Document(text="NATO is a defensive alliance. Its open door policy is not up to Russia: every nation chooses its "
                  "own alliances, and Russia objects to NATO expansion to keep a sphere of influence.",
             title="Press briefing", source="The White House", published="2022-01-10",
             url="ftp://whitehouse.example/briefing"),
    Document(text="Grain exports through the Black Sea ports resumed on Tuesday after the harvest.",
             title="Harvest news", source="President of Ukraine", published="2022-01-12"),
]


@browser_test
def test_grouped_answers_show_each_source_in_a_section_of_its_own(browser, serve):
    sides = serve(documents=SIDES)
    # A site's own page with the widget and its option, served from the service's origin.
    host = f"""<!doctype html><html><body><div id="chat" style="height: 760px"></div>
        <script src="{sides.url}/widget.js" data-target="#chat" data-group-by="source"></script></body></html>"""
    with open_page(browser, sides.url + "/embed", html=host) as page:
        ask(page, NATO, answers=1)
        expected = sides.client.post("/v1/ask", json={"question": NATO, "group_by": "source"}).json()
        sentences = {p["citation"]: p["sentence"] for p in expected["passages"]}
        section_of = {section.locator("h3").inner_text().split(" · ")[0]: section
                      for section in page.locator(".turn .group").all()}
        assert list(section_of) == [g["source"] for g in expected["groups"]]  # headed by source, in the answer's order
        moscow, washington = section_of["President of Russia"], section_of["The White House"]
        # Dates in the reader's locale: a range for Moscow's two documents, one date for Washington's one.
        assert moscow.locator(".dates").inner_text().count(" – ") == 1
        assert washington.locator(".dates").inner_text().count(" – ") == 0

        speech = moscow.locator(".passage", has_text="deceived us")
        assert speech.locator(".meta").inner_text().startswith("Vladimir Putin, ")
        assert speech.locator("mark").inner_text() == sentences[speech.locator(".cite").inner_text()]
        assert speech.locator("a.title").get_attribute("href") == "http://en.kremlin.ru/events/president/news/67438"
        assert washington.locator(".passage a").count() == 0  # an ftp: URL is not made a link
        assert not any("President of Russia" in meta for meta in moscow.locator(".meta").all_inner_texts())

        assert page.locator(".not-addressed").inner_text() == "Not addressed by: President of Ukraine"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-grouped.png"), full_page=True)


@browser_test
def test_a_page_can_ask_for_the_rerank_mode(browser, serve):
    sides = serve(documents=SIDES)
    host = f"""<!doctype html><html><body><div id="chat" style="height: 760px"></div>
        <script src="{sides.url}/widget.js" data-target="#chat" data-mode="rerank"></script></body></html>"""
    with open_page(browser, sides.url + "/embed", html=host) as page:
        with page.expect_request("**/v1/ask/stream") as sent:
            ask(page, NATO, answers=1)
        assert sent.value.post_data_json["mode"] == "rerank"
        expected = sides.client.post("/v1/ask", json={"question": NATO, "mode": "rerank"}).json()
        shown = page.locator(".turn .passage mark").all_inner_texts()
        assert shown == [p["sentence"] for p in expected["passages"]]
