"""The widget and its demo page, in headless Chromium: questions answered with cited passages, and hostile
source text shown as inert text. Screenshots go to artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fixtures.api_data import ROOT

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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, api):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(api.url + "/")
    yield page
    page.close()
    assert not errors, errors


def ask(page, question: str, answers: int) -> None:
    page.fill("#crisis-qa-question", question)
    page.press("#crisis-qa-question", "Enter")
    page.locator(".turn").nth(answers - 1).locator(".passage").first.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-crisis-qa]').shadowRoot"
                           ".querySelector('form button').disabled")


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
    assert follow_up.locator(".note").inner_text() == "Searched for: Why does Russia object to NATO expansion and Kazakhstan?"
    assert any("Kazakhstan" in text for text in follow_up.locator(".passage").all_inner_texts())


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
