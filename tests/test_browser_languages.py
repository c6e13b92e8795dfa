"""In Chromium: a Korean browser gets every main page in Korean and an English one gets no
Korean; the switcher changes the language on the page one is on, keeps its query string and
the studio's unsent draft, and is remembered for the member.

Screenshots of the Korean pages (1280 and 390 px wide) are saved to BANANA_SCREENSHOTS when
it names a folder; they need a font with Hangul (Debian's fonts-noto-cjk, installed by CI)."""

import os
import re

import pytest
from django.urls import reverse

from generations import boards, catalogue, credits
from generations.accounts.members import profile_for
from generations.sharing import create_share_link

from .browser import open_composer_settings, sideways_overflow
from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("BANANA_SCREENSHOTS")

# Names, units and formats that are the same in both languages.
ALLOWED_WORDS = {
    "Banana",
    "Studio",
    "API",
    "OpenAI",
    "URL",
    "URLs",
    "HTTP",
    "PNG",
    "JPEG",
    "WebP",
    "ZIP",
    "CSV",
    "JSON",
    "MB",
    "Ctrl",
    "Enter",
    "Cmd",
    "AM",
    "PM",
    "https",
}
HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

# Every text node and every attribute people read, hidden ones too (a closed menu's items, a
# dialog, text studio.js shows later); not code, and not what declares another language
# (the switcher's other language names itself in that language).
SHOWN_TEXT = """() => {
  const skip = "script, style, code, pre, kbd, samp, template, [translate=no]";
  const foreign = (el) => {
    const declared = el.closest("[lang]");
    return declared && declared !== document.documentElement
      && declared.lang !== document.documentElement.lang;
  };
  const found = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el && !el.closest(skip) && !foreign(el)) { found.push(walker.currentNode.textContent); }
  }
  const names = ["title", "alt", "placeholder", "aria-label", "data-confirm", "data-none",
                 "data-some"];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(skip) || foreign(el)) { continue; }
    for (const name of names) { if (el.getAttribute(name)) { found.push(el.getAttribute(name)); } }
    if (el.matches("input[type=submit], input[type=button]")) { found.push(el.value); }
  }
  return found.map((t) => t.trim()).filter(Boolean);
}"""


def model_words():
    words = set()
    for option in catalogue.model_options():
        words |= set(re.findall(r"[A-Za-z]{2,}", f"{option.label} {option.id}"))
    return words


def english_in(texts, allowed):
    found = []
    for text in texts:
        text = re.sub(r"\S+@\S+", " ", text)  # an address is the member's own
        words = [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in allowed]
        if words:
            found.append(text[:120])
    return found


def main_pages(owner, *, prompt, collection_name):
    done = make_generation(owner, prompt=prompt)
    make_generation(owner, prompt=prompt, status="in_progress")
    collection = boards.create_collection(owner, collection_name)
    boards.add_to_collection(collection, done)
    link = create_share_link(owner, generation=done)
    return {
        "studio": reverse("home"),
        "history": reverse("history"),
        "gallery": reverse("gallery"),
        "detail": reverse("generation_detail", args=[done.pk]),
        "collections": reverse("collections"),
        "collection": reverse("collection_detail", args=[collection.pk]),
        "links": reverse("share_links"),
        "credits": reverse("credit_ledger"),
        "settings": reverse("account_settings"),
    }, reverse("share_page", args=[link.token])


def log_in(page, live_server, username):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def walk(browser, live_server, *, locale, username, prompt, collection_name, width=1280):
    """Every main page as `locale`'s browser sees it: {page: its shown texts}."""
    user = make_user(username)
    credits.grant(user, 100, reason=collection_name)
    urls, share = main_pages(user, prompt=prompt, collection_name=collection_name)
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = {}
    try:
        page.goto(live_server.url + reverse("login"))
        seen["login"] = page.evaluate(SHOWN_TEXT)
        log_in(page, live_server, username)
        for name, url in {**urls, "share": share}.items():
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            seen[name] = page.evaluate(SHOWN_TEXT)
    finally:
        context.close()
    return seen


def test_a_korean_browser_sees_no_english_on_the_main_pages(browser, live_server):
    seen = walk(
        browser,
        live_server,
        locale="ko-KR",
        username="김민지",
        prompt="밤의 바나나 등대, 장노출",
        collection_name="달 사진",
    )

    allowed = ALLOWED_WORDS | model_words()
    english = {name: english_in(texts, allowed) for name, texts in seen.items()}
    assert {name: found for name, found in english.items() if found} == {}
    assert all(any(HANGUL.search(t) for t in texts) for texts in seen.values())


def test_an_english_browser_sees_no_korean_on_the_main_pages(browser, live_server):
    seen = walk(
        browser,
        live_server,
        locale="en-US",
        username="mina",
        prompt="A banana lighthouse at night",
        collection_name="Moons",
    )

    korean = {name: [t for t in texts if HANGUL.search(t)] for name, texts in seen.items()}
    assert {name: found for name, found in korean.items() if found} == {}


@pytest.mark.parametrize("width", [1280, 390])
def test_korean_pages_fit_without_overflow_or_cut_words(browser, live_server, width):
    user = make_user("김민지")
    credits.grant(user, 100, reason="시작 크레딧")
    urls, share = main_pages(user, prompt="밤의 바나나 등대, 장노출", collection_name="달 사진")
    context = browser.new_context(
        locale="ko-KR", viewport={"width": width, "height": 900}, is_mobile=width < 600
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = {}
    try:
        pages = {"login": reverse("login")}
        page.goto(live_server.url + pages["login"])
        check_fit(page, "login", width, problems)
        log_in(page, live_server, "김민지")
        for name, url in {**urls, "share": share}.items():
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            check_fit(page, name, width, problems)
    finally:
        context.close()
    assert problems == {}


# Controls and labels whose words must show whole: one cut by its box, or broken over two
# lines (a Korean word split between its syllables), is a truncation.
CUT_TEXT = """() => Array.from(document.querySelectorAll(
    "button, a, label, th, td, dt, summary, h1, h2, h3, .badge, .meta span, nav a"))
  .filter((el) => el.offsetParent !== null)
  .filter((el) => {
    const text = el.textContent.trim();
    if (getComputedStyle(el).overflow !== "visible" && el.scrollWidth > el.clientWidth + 1) {
      return true;
    }
    if (!text || /\\s/.test(text) || el.children.length) { return false; }
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size > 1;
  })
  .map((el) => el.textContent.trim().slice(0, 60))"""


def check_fit(page, name, width, problems):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"ko-{name}-{width}.png"), full_page=True)
    overflow = sideways_overflow(page)
    cut = page.evaluate(CUT_TEXT)
    if overflow > 0 or cut:
        problems[name] = {"overflow": overflow, "cut": cut}


def test_the_switcher_keeps_the_page_its_query_and_the_draft_and_is_remembered(
    browser, live_server
):
    from playwright.sync_api import expect

    user = make_user("mina")
    credits.grant(user, 100, reason="budget")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, "mina")
        page.goto(live_server.url + "/?from=switcher")
        page.fill("#id_prompt", "A lighthouse I have not sent yet")

        page.get_by_role("button", name="한국어").click()

        page.locator("html[lang=ko]").wait_for(state="attached")
        assert page.url == live_server.url + "/?from=switcher"
        expect(page.locator("#id_prompt")).to_have_value("A lighthouse I have not sent yet")
        assert page.get_by_role("button", name="English").is_visible()
        assert profile_for(user).language == "ko"
    finally:
        context.close()

    # Another browser, in English: the member's saved choice wins over its Accept-Language.
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, "mina")
        assert page.evaluate("document.documentElement.lang") == "ko"
    finally:
        context.close()


def test_a_visitor_switches_the_language_of_a_share_page(browser, live_server):
    owner = make_user("mina")
    link = create_share_link(owner, generation=make_generation(owner, prompt="A lighthouse"))
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        url = live_server.url + reverse("share_page", args=[link.token])
        page.goto(url)
        assert page.evaluate("document.documentElement.lang") == "en"

        page.keyboard.press("Tab")
        page.get_by_role("button", name="한국어").focus()
        page.keyboard.press("Enter")

        page.locator("html[lang=ko]").wait_for(state="attached")
        assert page.url == url
    finally:
        context.close()


def test_after_switching_the_studio_keeps_every_choice_and_prices_them(browser, live_server):
    from playwright.sync_api import expect

    user = make_user("mina")
    credits.grant(user, 100, reason="budget")
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, "mina")
        # Choices first and the prompt last, then the other way round after the switch.
        open_composer_settings(page)
        page.select_option("#id_image_size", "4k")
        page.select_option("#id_count", "3")
        page.fill("#id_prompt", "A lighthouse, three times, large")
        expect(page.locator("#price")).to_have_text("Costs 3 credits")

        page.get_by_role("button", name="한국어").click()
        page.locator("html[lang=ko]").wait_for(state="attached")

        expect(page.locator("#id_prompt")).to_have_value("A lighthouse, three times, large")
        expect(page.locator("#id_image_size")).to_have_value("4k")
        expect(page.locator("#id_count")).to_have_value("3")
        expect(page.locator("#price")).to_have_text("비용 3 크레딧")

        page.fill("#id_prompt", "One, small")
        page.select_option("#id_count", "1")
        page.select_option("#id_image_size", "1k")
        expect(page.locator("#price")).to_have_text("비용 0.5 크레딧")
        page.get_by_role("button", name="English").click()
        page.locator("html[lang=en]").wait_for(state="attached")
        expect(page.locator("#id_count")).to_have_value("1")
        expect(page.locator("#price")).to_have_text("Costs 0.5 credits")
    finally:
        context.close()
