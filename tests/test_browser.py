"""The chat page in a real Chromium (Debian's, driven by Playwright) against real daphne replicas."""

import asyncio
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.wsclient import ChatClient, register_and_login

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def run_async(coro):
    """Playwright's sync API owns this thread's event loop; other clients run beside it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def register(page, name, email, password=PASSWORD):
    page.click("#open-register")
    page.fill("#register-name", name)
    page.fill("#register-email", email)
    page.fill("#register-password", password)
    page.click("#register-form button[type=submit]")
    expect(page.locator("#me-name")).to_have_text(name)


def sign_in(page, email, password=PASSWORD):
    page.click("#open-signin")
    page.fill("#signin-email", email)
    page.fill("#signin-password", password)
    page.click("#signin-form button[type=submit]")


def send(page, body, subject=""):
    page.fill("#subject", subject)
    page.fill("#body", body)
    page.press("#body", "Enter")


def test_register_send_and_a_guest_sees_it(new_page):
    guest = new_page()
    expect(guest.locator("#body")).to_be_disabled()
    expect(guest.locator("#body")).to_have_attribute("placeholder", "Sign in to send a message")
    guest.screenshot(path=SHOTS / "guest.png")
    user = new_page()
    expect(guest.locator("#counts")).to_contain_text("0 signed in · 2 guests")
    register(user, "Ada", "ada@example.com")
    expect(guest.locator("#counts")).to_contain_text("1 signed in · 1 guest")
    send(user, "Hello from Ada, see https://example.com/docs", "Greetings")
    mine = user.locator("li.msg.mine", has_text="Hello from Ada")
    expect(mine).to_have_count(1)
    expect(mine).not_to_have_class(re.compile("pending"))
    theirs = guest.locator("li.msg", has_text="Hello from Ada")
    expect(theirs).to_have_count(1)
    expect(theirs.locator(".author")).not_to_have_attribute("data-email", re.compile(".*"))  # guests get no email
    link = theirs.locator("a")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(mine.locator(".author")).to_have_attribute("data-email", "ada@example.com")
    user.locator("li.msg.mine .author").first.focus()
    user.screenshot(path=SHOTS / "signed-in.png")
    assert not guest.errors and not user.errors, (guest.errors, user.errors)


def test_html_in_a_message_shows_as_text(new_page):
    page = new_page()
    register(page, "Mallory", "mallory@example.com")
    evil = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    send(page, evil)
    item = page.locator("li.msg", has_text="onerror")
    expect(item).to_have_count(1)
    assert item.locator(".body").inner_text() == evil
    assert item.locator("img, script").count() == 0 and not dialogs


def test_scrolling_up_loads_all_history_in_order(new_page, site):
    token, _ = register_and_login(site.url, "seed@example.com", "Seeder")

    async def seed():
        client = await ChatClient(f"ws://127.0.0.1:{site.members[1].port}/ws/chat").connect(token)
        for i in range(120):
            await client.send({"type": "message", "body": f"seed {i:03d}", "client_id": f"seed-{i}"})
        await client.wait(lambda: sum(1 for m in client.messages if m["body"].startswith("seed")) == 120, 30)
        await client.close()

    run_async(seed())
    page = new_page()
    timeline = page.locator("#timeline")
    for _ in range(40):
        timeline.evaluate("el => el.scrollTop = 0")
        page.wait_for_timeout(150)
        if page.locator("#start-row").is_visible():
            break
    expect(page.locator("#start-row")).to_be_visible()
    ids = page.eval_on_selector_all("li.msg[data-id]", "els => els.map(e => Number(e.dataset.id))")
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    bodies = page.eval_on_selector_all("li.msg .body", "els => els.map(e => e.textContent)")
    seeded = [b for b in bodies if b.startswith("seed ")]
    assert seeded == [f"seed {i:03d}" for i in range(120)]


def test_restart_both_pages_reconnect_and_see_what_was_sent_meanwhile(new_page, site):
    allow = ("WebSocket", "ERR_CONNECTION_REFUSED", "Failed to load resource")
    a = new_page(allow_console=allow)
    b = new_page(allow_console=allow)
    register(a, "Restart", "restart@example.com")
    token, _ = register_and_login(site.url, "third@example.com", "Third")
    site.signal_replica(0, signal.SIGTERM)
    expect(a.locator("#conn")).not_to_have_attribute("data-state", "connected")

    async def third():
        client = await ChatClient(f"ws://127.0.0.1:{site.members[1].port}/ws/chat").connect(token)
        await client.send({"type": "message", "body": "sent during the outage", "client_id": "outage-1"})
        await client.wait(lambda: client.messages, 10)
        await client.close()

    run_async(third())
    site.start_replica(0)
    for page in (a, b):
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=20000)
        expect(page.locator("li.msg", has_text="sent during the outage")).to_have_count(1, timeout=10000)
    expect(a.locator("#me-name")).to_have_text("Restart")  # still signed in
    send(a, "after the restart")
    expect(b.locator("li.msg", has_text="after the restart")).to_have_count(1)
    assert not a.errors and not b.errors, (a.errors, b.errors)


def test_change_password_logout_sign_in_and_reload_keeps_session(new_page):
    # the wrong passwords below are answered 400/401 on purpose; Chromium logs those responses
    page = new_page(allow_console=("status of 400", "status of 401"))
    register(page, "Grace", "grace@example.com")
    page.click("#menu-button")
    page.click("#open-password")
    page.fill("#old-password", "wrong password here")
    page.fill("#new-password", "a brand new passphrase")
    page.click("#password-form button[type=submit]")
    expect(page.locator('#password-form [data-error="old_password"]')).not_to_be_empty()
    page.screenshot(path=SHOTS / "change-password.png")
    page.fill("#old-password", PASSWORD)
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-dialog")).not_to_be_visible()
    page.reload()
    expect(page.locator("#me-name")).to_have_text("Grace")  # restored from the refresh cookie
    page.click("#menu-button")
    page.click("#logout")
    expect(page.locator("#open-signin")).to_be_visible()
    expect(page.locator("#body")).to_be_disabled()
    sign_in(page, "grace@example.com", PASSWORD)
    expect(page.locator('#signin-form [data-error="detail"]')).to_contain_text("No active account")
    page.screenshot(path=SHOTS / "sign-in-error.png")
    page.fill("#signin-password", "a brand new passphrase")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#me-name")).to_have_text("Grace")
    page.keyboard.press("Escape")
    assert not page.errors, page.errors


def test_two_tabs_stay_signed_in_and_escape_closes_dialogs(browser, site):
    context = browser.new_context()
    one = context.new_page()
    one.goto(f"http://127.0.0.1:{site.members[0].port}/")
    register(one, "Tabs", "tabs@example.com")
    two = context.new_page()
    two.goto(f"http://127.0.0.1:{site.members[0].port}/")
    expect(two.locator("#me-name")).to_have_text("Tabs")
    one.reload()
    two.reload()
    expect(one.locator("#me-name")).to_have_text("Tabs")
    expect(two.locator("#me-name")).to_have_text("Tabs")
    context.close()


def test_mobile_width_dark_scheme_and_dialog_screens(new_page):
    page = new_page(viewport={"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=SHOTS / "mobile.png")
    page.click("#open-register")
    page.click("#register-form button[type=submit]")
    expect(page.locator('#register-form [data-error="email"]')).not_to_be_empty()
    page.screenshot(path=SHOTS / "register-errors.png")
    page.keyboard.press("Escape")
    expect(page.locator("#register-dialog")).not_to_be_visible()
    dark = new_page(color_scheme="dark")
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(246, 247, 249)"
    dark.screenshot(path=SHOTS / "dark.png")


def test_readme_screenshot(new_page):
    """The picture in the README: a signed-in view of a conversation."""
    page = new_page()
    register(page, "Readme", "readme@example.com")
    send(page, "Shipped! Notes at https://example.com/release", "Release 1.0")
    expect(page.locator("li.msg.mine", has_text="Shipped")).not_to_have_class(re.compile("pending"))
    expect(page.locator("#counts")).to_contain_text("1 signed in")
    expect(page.locator(".room-link", has_text="general").locator(".badge")).to_have_count(0)
    page.screenshot(path=SHOTS / "readme.png")
