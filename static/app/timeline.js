// The message list of the room on screen: one <ol> per room, swapped in and out.
import { $, emit, remember, state } from "./state.js";
import { isoTime, plainBody, renderBody, timeText } from "./format.js";

export const QUICK_EMOJI = ["👍", "❤️", "😄", "🎉", "👀"];
const timeline = $("timeline");

export function newList() {
  const ol = document.createElement("ol");
  ol.className = "messages";
  ol.setAttribute("role", "log");
  ol.setAttribute("aria-live", "polite");
  ol.setAttribute("aria-relevant", "additions");
  return ol;
}

export function nearBottom() {
  return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
}

export function scrollToBottom() {
  timeline.scrollTop = timeline.scrollHeight;
  $("new-pill").hidden = true;
}

function button(label, text, onClick, className = "act") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function quoteOf(rs, m) {
  if (m.reply_to === null || m.reply_to === undefined) return null;
  const original = rs?.messages.get(m.reply_to);
  const q = document.createElement("blockquote");
  q.className = "quote";
  q.dataset.replyTo = String(m.reply_to);
  if (original) {
    const who = document.createElement("strong");
    who.textContent = original.user.name;
    const text = plainBody(original.body);
    q.append(who, document.createTextNode(`: ${text.length > 140 ? `${text.slice(0, 139)}…` : text}`));
  } else {
    q.textContent = rs?.deleted.has(m.reply_to) ? "The original message was deleted." : "Reply to an earlier message";
  }
  q.addEventListener("click", () => emit("jump", { roomId: m.room_id, messageId: m.reply_to }));
  return q;
}

function reactionsOf(m) {
  const row = document.createElement("div");
  row.className = "reactions";
  for (const r of m.reactions || []) {
    const mine = state.user && r.user_ids.includes(state.user.id);
    const names = r.user_ids.map((id) => state.users.get(id)?.name ?? `user ${id}`).join(", ");
    const chip = button(`${r.emoji} ${r.user_ids.length}: ${names}${mine ? " (remove yours)" : ""}`,
      `${r.emoji} ${r.user_ids.length}`, () => emit("react", { message: m, emoji: r.emoji, add: !mine }), "chip");
    chip.title = names;
    chip.setAttribute("aria-pressed", String(Boolean(mine)));
    row.append(chip);
  }
  return row;
}

function actionsOf(m) {
  const bar = document.createElement("div");
  bar.className = "actions";
  if (!state.user || m.id === undefined) return bar;
  bar.append(button("Reply", "↩", () => emit("reply", m)));
  const picker = document.createElement("span");
  picker.className = "picker";
  for (const emoji of QUICK_EMOJI) {
    picker.append(button(`React with ${emoji}`, emoji, () => emit("react", { message: m, emoji, add: true })));
  }
  bar.append(picker);
  if (m.user.id === state.user.id) {
    bar.append(button("Edit", "✎", () => emit("edit", m)));
  }
  if (m.user.id === state.user.id || state.user.is_staff) {
    bar.append(button("Delete", "🗑", () => emit("delete", m)));
  }
  return bar;
}

export function buildMessage(m, { pending = false, rs = null } = {}) {
  remember(m.user);
  const li = document.createElement("li");
  li.className = "msg";
  li.dataset.userId = String(m.user.id);
  if (m.id !== undefined) li.dataset.id = String(m.id);
  if (m.client_id) li.dataset.clientId = m.client_id;
  if (pending) li.classList.add("pending");
  fill(li, m, rs);
  return li;
}

export function fill(li, m, rs) {
  li.replaceChildren();
  const mine = Boolean(state.user && m.user.id === state.user.id);
  li.classList.toggle("mine", mine);
  const mentioned = Boolean(state.user && (m.mentions || []).includes(state.user.id));
  li.classList.toggle("mentions-me", mentioned);
  const header = document.createElement("header");
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = m.user.name;
  if (m.user.email) {
    author.dataset.email = m.user.email;
    author.tabIndex = 0;
    author.setAttribute("aria-label", `${m.user.name} (${m.user.email})`);
    author.title = m.user.email;
  }
  const you = document.createElement("span");
  you.className = "you";
  you.textContent = mine ? "you" : "";
  const time = document.createElement("time");
  time.className = "time";
  if (m.ts !== undefined) {
    time.dateTime = isoTime(m.ts);
    time.textContent = timeText(m.ts);
  } else {
    time.textContent = "sending…";
  }
  header.append(author, you, time);
  if (m.edited_at) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = "(edited)";
    header.append(edited);
  }
  li.append(header);
  const quote = quoteOf(rs, m);
  if (quote) li.append(quote);
  if (m.subject) {
    const subject = document.createElement("p");
    subject.className = "subject";
    subject.textContent = m.subject;
    li.append(subject);
  }
  const body = document.createElement("p");
  body.className = "body";
  renderBody(body, m.body);
  li.append(body, reactionsOf(m), actionsOf(m));
}

export function show(rs) {
  const old = timeline.querySelector("ol.messages");
  if (old !== rs.list) {
    if (old) old.replaceWith(rs.list);
    else timeline.append(rs.list);
  }
  $("start-row").hidden = rs.hasMoreOlder || !rs.loaded;
}

// Keeps the view where the reader is: pinned to the bottom, or the same message on top.
export function keepScroll(rs, change) {
  const onScreen = state.current === rs.id;
  const pinned = onScreen && nearBottom();
  const oldHeight = timeline.scrollHeight;
  const oldTop = timeline.scrollTop;
  const grew = change();
  if (!onScreen) return;
  if (grew === "older") timeline.scrollTop = oldTop + (timeline.scrollHeight - oldHeight);
  else if (pinned) scrollToBottom();
  else if (grew === "newer") $("new-pill").hidden = false;
}
