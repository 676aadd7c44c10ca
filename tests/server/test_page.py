"""The web page at / in a real browser: headless Chromium (Debian's) driven by Playwright.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never ``playwright install``:
the Debian browser is used through ``executable_path``). Skips, saying which is missing, otherwise.
Set DENSEKIT_SCREENSHOT_DIR to keep the screenshots somewhere you can look at them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing: pip install playwright")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def _screenshot_dir(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("DENSEKIT_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_search_in_the_browser(browser, live_server, tmp_path):
    server = live_server(api_key="page-key")
    # The browser answers the page's Basic challenge with the key as password, as a person would.
    context = browser.new_context(http_credentials={"username": "me", "password": "page-key"},
                                  viewport={"width": 1100, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='pets']", state="attached")
    assert "6 items" in page.inner_text("#collection-info")

    page.fill("#search-query", "interest rates at the bank")
    page.check("input[name='mode'][value='hybrid']")
    page.click("#search-form button[type='submit']")
    page.wait_for_selector("#search-results li")
    hits = page.locator("#search-results li")
    assert hits.count() == 5
    first_ids = {page.locator("#search-results li .item-id").nth(i).inner_text() for i in range(2)}
    assert first_ids == {"fin-1", "fin-2"}
    scores = [float(text) for text in page.locator("#search-results .score").all_inner_texts()]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert page.inner_text("#search-status") == "5 hits (hybrid)"

    # Dense mode, fewer hits; scores are cosines now.
    page.check("input[name='mode'][value='dense']")
    page.fill("#search-k", "2")
    page.fill("#search-query", "a cat on the warm mat")
    page.click("#search-form button[type='submit']")
    page.wait_for_function("document.getElementById('search-status').textContent === '2 hits (dense)'")
    assert page.locator("#search-results li .item-id").first.inner_text() == "cat-1"
    assert "warm mat" in page.locator("#search-results li .text").first.inner_text()

    page.screenshot(path=str(_screenshot_dir(tmp_path) / "densekit-search.png"), full_page=True)
    assert errors == []
    context.close()


def test_errors_are_shown_not_thrown(browser, live_server):
    from densekit.server import Limits

    server = live_server(limits=Limits(max_text_chars=20))
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='pets']", state="attached")
    page.fill("#search-query", "a query longer than twenty characters")
    page.click("#search-form button[type='submit']")
    page.wait_for_selector("#error:not([hidden])")
    assert "413: query[0] is 37 characters; at most 20 per text" in page.inner_text("#error")
    assert page.locator("#search-results li").count() == 0
    page.close()


def test_stored_text_is_not_markup(browser, live_server):
    server = live_server()
    import httpx2 as httpx

    httpx.post(f"{server.url}/collections/pets/documents",
               json={"documents": [{"id": "xss", "text": "<img src=x onerror=alert(1)> evil cat"}]})
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='pets']", state="attached")
    page.fill("#search-query", "evil cat")
    page.click("#search-form button[type='submit']")
    page.wait_for_selector("#search-results li")
    assert page.locator("#search-results img").count() == 0
    assert "<img src=x" in page.locator("#search-results li .text").first.inner_text()
    page.close()


@pytest.mark.slow
def test_ask_highlights_the_answer_in_its_passage(browser, live_server, tiny_reader_path, tmp_path):
    server = live_server(reader=str(tiny_reader_path))
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='pets']", state="attached")
    page.click("#tabs button[data-panel='ask-panel']")
    page.fill("#ask-question", "Where did the cat sit?")
    page.click("#ask-form button[type='submit']")
    page.wait_for_selector("#ask-results li mark")
    first = page.locator("#ask-results li").first
    answer = first.locator(".answer").inner_text()
    assert answer and first.locator("mark").inner_text() == answer
    assert answer in first.locator(".text").inner_text()
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "densekit-ask.png"), full_page=True)
    page.close()


@pytest.mark.slow
def test_image_grid_and_drop(browser, live_server, photos_root, tmp_path):
    server = live_server(collections={}, root=photos_root)
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='photos']", state="attached")
    page.click("#tabs button[data-panel='images-panel']")
    page.fill("#image-query", "something red")
    page.click("#image-form button[type='submit']")
    page.wait_for_function("document.querySelectorAll('#image-results figure').length === 5")
    # Every thumbnail actually loaded (a broken image has naturalWidth 0).
    page.wait_for_function("[...document.querySelectorAll('#image-results img')].every(i => i.complete && i.naturalWidth > 0)")

    picture = (tmp_path / "pictures" / "blue.png").read_bytes()
    transfer = page.evaluate_handle(
        """(bytes) => { const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], 'mine.png', {type: 'image/png'}));
            return transfer; }""",
        list(picture),
    )
    page.evaluate("document.getElementById('image-results').replaceChildren()")
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    page.wait_for_function("document.querySelectorAll('#image-results figure').length === 5")
    assert "blue.png" in page.locator("#image-results figcaption").first.inner_text()
    assert page.locator("#image-results figcaption").first.inner_text().startswith("1.000")
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "densekit-images.png"), full_page=True)
    page.close()


def test_filter_title_snippet_and_unavailable_tabs(browser, live_server, tmp_path):
    server = live_server()  # no reader model on this machine, and pets has no image space
    import httpx2 as httpx

    added = httpx.post(f"{server.url}/collections/pets/documents", json={"documents": [
        {"id": "news-1", "text": "In other news, the central bank raised interest rates again this spring.",
         "metadata": {"topic": "finance", "title": "Rates rise again"}}]})
    assert added.status_code == 201, added.text
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#collection option[value='pets']", state="attached")
    page.fill("#search-query", "interest rates")
    page.check("input[name='mode'][value='sparse']")
    page.fill("#search-where", "topic=finance")
    page.click("#search-form button[type='submit']")
    page.wait_for_selector("#search-results li mark")
    titles = page.locator("#search-results li .title").all_inner_texts()
    assert "Rates rise again" in titles and len(titles) == 3  # only the finance items pass the filter
    marks = {text.lower() for text in page.locator("#search-results li mark").all_inner_texts()}
    assert {"interest", "rates"} <= marks
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "densekit-filter.png"), full_page=True)

    page.fill("#search-where", "topik=finance")
    page.click("#search-form button[type='submit']")
    page.wait_for_function("document.getElementById('search-status').textContent.includes(\"no item has the metadata key 'topik'\")")

    page.click("#tabs button[data-panel='ask-panel']")
    page.wait_for_selector("#ask-notice:not([hidden])")
    assert "densekit train reader" in page.inner_text("#ask-notice")
    assert page.locator("#ask-form button").is_disabled()
    page.click("#tabs button[data-panel='images-panel']")
    assert "densekit images index" in page.inner_text("#images-notice")
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "densekit-images-notice.png"), full_page=True)
    assert errors == []
    page.close()
