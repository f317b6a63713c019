"""The rooms UI in Chromium, two people on two replicas: the sidebar and its badges,
direct messages, edits, deletions, reactions, replies, mentions, typing, search,
reconnect replay, a message typed while offline, and the 360 px drawer."""

import re
import signal

from playwright.sync_api import expect

from tests.test_browser import SHOTS, register, run_async, send
from tests.wsclient import ChatClient, http_json, register_and_login

PASSWORD = "correct horse battery staple"


def two_people(new_page, site, tag):
    ana = new_page()
    ben = new_page(base=f"http://127.0.0.1:{site.members[1].port}")
    register(ana, "Ana", f"ana-{tag}@example.com")
    register(ben, "Ben", f"ben-{tag}@example.com")
    return ana, ben


def create_room(page, name, private=False):
    page.get_by_role("button", name="Create a room").click()
    page.fill("#room-name", name)
    if private:
        page.get_by_label("Private: members only").check()
    page.click("#create-room-form button[type=submit]")
    expect(page.locator("#room-title")).to_contain_text(name)


def open_room(page, name):
    page.locator(".room-link", has_text=name).click()
    expect(page.locator("#room-title")).to_contain_text(name)


def test_rooms_badges_mentions_and_direct_messages(new_page, site):
    ana, ben = two_people(new_page, site, "badges")
    create_room(ana, "design")
    ben.get_by_role("button", name="Browse rooms").click()
    ben.get_by_role("button", name="Join design").click()
    expect(ben.locator("#room-title")).to_contain_text("design")
    open_room(ben, "general")
    # a mention through the autocomplete, while Ben looks at another room
    ana.fill("#body", "ping @ben-badges")
    expect(ana.get_by_role("option", name=re.compile("ben-badges"))).to_be_visible()
    ana.press("#body", "Enter")  # picks the suggestion
    ana.type("#body", "please review")
    ana.press("#body", "Enter")
    link = ben.locator(".room-link", has_text="design")
    expect(link.locator(".unread-badge")).to_have_text("1")
    expect(link.locator(".mention-badge")).to_have_text("@1")
    expect(ben).to_have_title("(1) Chat")
    link.click()
    message = ben.locator("li.msg", has_text="please review")
    expect(message.locator(".mention.me")).to_have_text("@Ben")
    expect(ben.locator(".room-link", has_text="design").locator(".badge")).to_have_count(0)
    expect(ben).to_have_title("Chat")
    # a direct message, found by searching people
    ana.get_by_role("button", name="New direct message").click()
    ana.fill("#direct-search", "Be")
    ana.locator("#direct-results button", has_text="ben-badges@example.com").click()
    expect(ana.locator("#room-title")).to_have_text("Ben")
    send(ana, "just between us")
    expect(ben.locator("#rooms-direct .room-link", has_text="Ana")).to_be_visible()
    ben.locator("#rooms-direct .room-link", has_text="Ana").click()
    expect(ben.locator("li.msg", has_text="just between us")).to_have_count(1)
    ben.screenshot(path=SHOTS / "rooms-direct.png")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_edit_delete_react_reply_and_typing(new_page, site):
    ana, ben = two_people(new_page, site, "edits")
    send(ana, "first version")
    theirs = ben.locator("li.msg", has_text="first version")
    expect(theirs).to_have_count(1)
    # Ben reacts; Ana sees the count and who
    theirs.hover()
    theirs.get_by_role("button", name="React with 👍").click()
    chip = ana.locator("li.msg", has_text="first version").locator(".chip")
    expect(chip).to_have_text("👍 1")
    expect(chip).to_have_attribute("title", "Ben")
    # Ana types: Ben sees it (typing is announced at most once every 2 s); then she edits her last message with Up
    ana.wait_for_timeout(2100)
    ana.type("#body", "x")
    expect(ben.locator("#typing")).to_have_text("Ana is typing…")
    ana.fill("#body", "")
    ana.press("#body", "ArrowUp")
    expect(ana.locator("#body")).to_have_value("first version")
    ana.fill("#body", "second version")
    ana.press("#body", "Enter")
    edited = ben.locator("li.msg", has_text="second version")
    expect(edited.locator(".edited")).to_have_text("(edited)")
    # Ben replies with a quote
    edited.hover()
    edited.get_by_role("button", name="Reply").click()
    send(ben, "agreed")
    reply = ana.locator("li.msg", has_text="agreed")
    expect(reply.locator(".quote")).to_contain_text("Ana: second version")
    # Ana deletes hers: gone for Ben
    ana.on("dialog", lambda d: d.accept())
    mine = ana.locator("li.msg.mine", has_text="second version")
    mine.hover()
    mine.get_by_role("button", name="Delete").click()
    expect(ben.locator("li.msg .body", has_text="second version")).to_have_count(0)
    expect(ben.locator("li.msg", has_text="agreed").locator(".quote")).to_have_text("The original message was deleted.")
    ben.screenshot(path=SHOTS / "rooms-light.png")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_search_jumps_to_the_message_in_its_room(new_page, site):
    token, _ = register_and_login(site.url, "searcher@example.com", "Searcher")
    status, room, _ = http_json("POST", f"{site.url}/api/rooms", {"name": "archive", "kind": "public"},
                                {"Authorization": f"Bearer {token}"})
    assert status == 201

    async def seed():
        client = await ChatClient(f"ws://127.0.0.1:{site.members[1].port}/ws/chat").connect(token)
        for i in range(80):
            body = "the needle is here" if i == 5 else f"hay {i}"
            await client.send({"type": "message", "room_id": room["id"], "body": body, "client_id": f"hay-{i}"})
        await client.wait(lambda: sum(1 for m in client.messages if m.get("room_id") == room["id"]) >= 80, 30)
        await client.close()

    run_async(seed())
    page = new_page()
    page.fill("#search-input", "needle")
    page.press("#search-input", "Enter")
    result = page.locator("#search-results button", has_text="needle")
    expect(result).to_contain_text("archive")
    result.click()
    expect(page.locator("#room-title")).to_contain_text("archive")
    target = page.locator("li.msg", has_text="the needle is here")
    expect(target).to_be_in_viewport()
    expect(target).to_be_focused()
    assert not page.errors, page.errors


def test_offline_message_is_sent_after_reconnect_and_missed_events_replay(new_page, site):
    allow = ("WebSocket", "ERR_CONNECTION_REFUSED", "Failed to load resource")
    ana = new_page(allow_console=allow)
    ben = new_page(base=f"http://127.0.0.1:{site.members[1].port}", allow_console=allow)
    register(ana, "Ana", "ana-offline@example.com")
    register(ben, "Ben", "ben-offline@example.com")
    create_room(ben, "ops")
    ana.get_by_role("button", name="Browse rooms").click()
    ana.get_by_role("button", name="Join ops").click()
    expect(ana.locator("#room-title")).to_contain_text("ops")
    open_room(ana, "general")
    site.signal_replica(0, signal.SIGTERM)
    expect(ana.locator("#conn")).not_to_have_attribute("data-state", "connected")
    send(ben, "while you were away")  # into ops; Ana's page is not connected: replayed by events?after=
    send(ana, "typed while offline")
    expect(ana.locator("li.msg.pending", has_text="typed while offline")).to_have_count(1)
    site.start_replica(0)
    expect(ana.locator("#conn")).to_have_attribute("data-state", "connected", timeout=20000)
    expect(ben.locator("li.msg", has_text="typed while offline")).to_have_count(0)
    open_room(ben, "general")
    expect(ben.locator("li.msg", has_text="typed while offline")).to_have_count(1, timeout=10000)
    expect(ana.locator("li.msg", has_text="typed while offline")).not_to_have_class(re.compile("pending"))
    expect(ana.locator(".room-link", has_text="ops").locator(".unread-badge")).to_have_text("1")
    open_room(ana, "ops")
    expect(ana.locator("li.msg", has_text="while you were away")).to_have_count(1)
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_narrow_screen_drawer_keyboard_and_dark(new_page, site):
    page = new_page(viewport={"width": 360, "height": 740})
    register(page, "Narrow", "narrow@example.com")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    toggle = page.get_by_role("button", name="Rooms", exact=True)
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)
    page.wait_for_timeout(300)  # the slide-in transition
    page.screenshot(path=SHOTS / "rooms-mobile-drawer.png")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.screenshot(path=SHOTS / "rooms-mobile.png")
    dark = new_page(color_scheme="dark")
    register(dark, "Dark", "dark-rooms@example.com")
    create_room(dark, "night", private=True)
    send(dark, "quiet in here")
    expect(dark.locator("#rooms-private .room-link", has_text="night")).to_be_visible()
    dark.screenshot(path=SHOTS / "rooms-dark.png")
    assert not page.errors and not dark.errors, (page.errors, dark.errors)


def test_new_messages_divider_read_state_and_keyboard_only(new_page, site):
    ana, ben = two_people(new_page, site, "reads")
    create_room(ana, "reading")
    ben.get_by_role("button", name="Browse rooms").click()
    ben.get_by_role("button", name="Join reading").click()
    send(ben, "ben was here")
    open_room(ben, "general")
    for n in range(3):
        send(ana, f"unread {n}")
    link = ben.locator(".room-link", has_text="reading")
    expect(link.locator(".unread-badge")).to_have_text("3")
    # keyboard only: Tab to the room in the sidebar, Enter opens it
    link.focus()
    ben.keyboard.press("Enter")
    expect(ben.locator("#room-title")).to_contain_text("reading")
    divider = ben.locator("li.divider")
    expect(divider).to_have_text("New messages")
    assert ben.evaluate("""() => {
        const d = document.querySelector('li.divider');
        return d.previousElementSibling.textContent.includes('ben was here')
            && d.nextElementSibling.textContent.includes('unread 0');
    }""")
    # reading it is sent to the server (debounced): a reload shows nothing unread
    expect(link.locator(".badge")).to_have_count(0)
    ben.wait_for_timeout(1500)
    ben.reload()
    expect(ben.locator(".room-link", has_text="reading")).to_be_visible()
    expect(ben.locator(".room-link", has_text="reading").locator(".badge")).to_have_count(0)
    # the composer is reachable and usable from the keyboard alone
    ben.locator("#body").focus()
    ben.keyboard.type("typed with keys only")
    ben.keyboard.press("Enter")
    expect(ana.locator("li.msg", has_text="typed with keys only")).to_have_count(1)
    # every button has an accessible name
    unnamed = ben.evaluate("""() => [...document.querySelectorAll('button')].filter(b =>
        !(b.getAttribute('aria-label') || b.textContent.trim())).length""")
    assert unnamed == 0
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_members_topic_leave_and_notifications(new_page, site, browser):
    ana, ben = two_people(new_page, site, "members")
    # Ben's page may notify: record what it shows
    ben.context.grant_permissions(["notifications"])
    ben.evaluate("""() => { window.shown = []; window.Notification = class { constructor(t, o) { window.shown.push([t, o.body]); }
        static get permission() { return 'granted'; } static requestPermission() { return Promise.resolve('granted'); } }; }""")
    create_room(ana, "crew", private=True)
    ana.get_by_role("button", name="Members and topic").click()
    ana.fill("#add-member-search", "Be")
    ana.locator("#add-member-results button", has_text="ben-members@example.com").click()
    expect(ana.locator("#member-list")).to_contain_text("Ben")
    ana.fill("#topic-input", "shipping on Friday")
    ana.get_by_role("button", name="Save topic").click()
    expect(ana.locator("#room-topic")).to_have_text("shipping on Friday")
    ana.keyboard.press("Escape")
    expect(ana.locator("#room-dialog")).not_to_be_visible()
    expect(ben.locator("#rooms-private .room-link", has_text="crew")).to_be_visible()
    # a direct message notifies (so does a mention: the first test shows the badge)
    ana.get_by_role("button", name="New direct message").click()
    ana.fill("#direct-search", "ben-members")
    ana.locator("#direct-results button", has_text="ben-members@example.com").click()
    send(ana, "are you there")
    ben.wait_for_function("window.shown.length > 0")
    assert ben.evaluate("window.shown")[0] == ["Ana", "are you there"]
    open_room(ben, "crew")
    expect(ben.locator("#room-topic")).to_have_text("shipping on Friday")
    ben.get_by_role("button", name="Members and topic").click()
    ben.get_by_role("button", name="Leave the room").click()
    expect(ben.locator("#room-title")).to_contain_text("general")
    expect(ben.locator("#rooms-private .room-link", has_text="crew")).to_have_count(0)
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)
