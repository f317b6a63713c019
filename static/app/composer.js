// Writing: Enter sends, Shift+Enter breaks the line, Up edits your last message,
// @ completes a mention, typing is announced at most once every 2 s. A message typed
// while disconnected waits in the outbox and goes when the socket is back.
import { api, authed } from "./api.js";
import { $, DEFAULT_ROOM, FRAMES, emit, on, remember, state } from "./state.js";
import { plainBody } from "./format.js";
import { buildMessage, scrollToBottom } from "./timeline.js";
import { outbox, send, sendMessage } from "./socket.js";

const REASONS = {
  unauthenticated: "You are signed out. Sign in and retry.",
  invalid: "Too long or empty (subject ≤ 200, message ≤ 4000 characters), or the reply is not in this room.",
  rate_limited: "You are sending too fast. Wait a moment and retry.",
  unavailable: "The server could not store it. Retry in a moment.",
  forbidden: "You cannot write here: join the room first.",
};
const body = $("body");
const subject = $("subject");
const form = $("composer");
const mode = { replyTo: null, editing: null };
const names = new Map(); // "@Name" inserted by the autocomplete -> user id
let lastTyping = 0;

function newClientId() {
  return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).slice(0, 64);
}

function currentRoom() {
  return state.rooms.get(state.current);
}

export function canWrite(rs) {
  return Boolean(state.user && rs && (rs.id === DEFAULT_ROOM || rs.member));
}

export function renderComposer() {
  const rs = currentRoom();
  const writable = canWrite(rs);
  body.disabled = subject.disabled = $("send").disabled = !writable;
  $("join-room").hidden = !(state.user && rs && !writable && rs.room.kind === "public");
  body.placeholder = !state.user ? "Sign in to send a message"
    : writable ? "Write a message… (Enter sends, Shift+Enter breaks the line, @ mentions)" : "Join the room to write here";
}

function withMentions(text) {
  let out = text;
  for (const [label, id] of names) out = out.split(label).join(`<@${id}>`);
  return out;
}

function pendingElement(rs, frame) {
  return rs.list.querySelector(`li.msg[data-client-id="${CSS.escape(frame.client_id)}"]:not([data-id])`);
}

export function submit(rs, frame) {
  let li = pendingElement(rs, frame);
  if (!li) {
    li = buildMessage({ user: state.user, subject: frame.subject, body: frame.body, client_id: frame.client_id,
      reply_to: frame.reply_to ?? null, room_id: rs.id }, { pending: true, rs });
    rs.list.append(li);
    if (state.current === rs.id) scrollToBottom();
  }
  li.classList.remove("failed");
  li.classList.add("pending");
  li.querySelector(".status")?.remove();
  if (!sendMessage(frame)) {
    const waiting = document.createElement("div");
    waiting.className = "status";
    waiting.textContent = "Not connected: it will be sent when the connection is back.";
    li.append(waiting);
  }
}

export function onFailed(frame) {
  const pending = outbox.get(frame.client_id);
  if (frame.reason === "token_expired") return; // sent again once the session is refreshed
  if (!pending) return;
  outbox.delete(frame.client_id);
  const rs = state.rooms.get(pending.room_id ?? DEFAULT_ROOM);
  const li = rs && pendingElement(rs, pending);
  if (!li) return;
  li.classList.remove("pending");
  li.classList.add("failed");
  li.querySelector(".status")?.remove();
  const status = document.createElement("div");
  status.className = "status";
  status.setAttribute("role", "alert");
  const words = document.createElement("span");
  words.textContent = REASONS[frame.reason] || "Not sent.";
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "btn retry";
  retry.textContent = "Retry";
  retry.addEventListener("click", () => submit(rs, pending));
  status.append(words, retry);
  li.append(status);
}

function setReply(m) {
  mode.replyTo = m;
  mode.editing = null;
  $("reply-bar").hidden = !m;
  $("reply-text").textContent = m ? `Replying to ${m.user.name}: ${plainBody(m.body).slice(0, 120)}` : "";
  if (m) body.focus();
}

function setEditing(m) {
  mode.editing = m;
  mode.replyTo = null;
  $("reply-bar").hidden = !m;
  $("reply-text").textContent = m ? "Editing your message (Escape cancels)" : "";
  if (m) {
    body.value = plainBody(m.body);
    subject.value = m.subject;
    for (const id of m.mentions || []) names.set(`@${state.users.get(id)?.name}`, id);
    body.focus();
  }
}

function clear() {
  body.value = "";
  subject.value = "";
  names.clear();
  setReply(null);
  autoGrow();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const rs = currentRoom();
  const text = withMentions(body.value);
  if (!canWrite(rs) || !text.trim()) return;
  if (mode.editing) {
    const { status, data } = await authed(`/api/messages/${mode.editing.id}`,
      { method: "PATCH", body: { body: text, subject: subject.value } });
    if (status !== 200) { emit("toast", data?.detail || "Could not edit the message."); return; }
    clear();
    return;
  }
  const frame = { type: FRAMES.MESSAGE, room_id: rs.id, subject: subject.value, body: text, client_id: newClientId() };
  if (mode.replyTo) frame.reply_to = mode.replyTo.id;
  clear();
  submit(rs, frame);
});

body.addEventListener("keydown", (event) => {
  if (suggest.handleKey(event)) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  } else if (event.key === "ArrowUp" && !body.value) {
    const rs = currentRoom();
    const mine = rs && [...rs.messages.values()].filter((m) => state.user && m.user.id === state.user.id).pop();
    if (mine) { event.preventDefault(); setEditing(mine); }
  } else if (event.key === "Escape" && (mode.editing || mode.replyTo)) {
    clear();
  }
});

function autoGrow() {
  body.style.height = "auto";
  body.style.height = `${Math.min(body.scrollHeight, 160)}px`;
}

body.addEventListener("input", () => {
  autoGrow();
  suggest.update();
  const rs = currentRoom();
  if (canWrite(rs) && body.value.trim() && Date.now() - lastTyping > 2000) {
    lastTyping = Date.now();
    send({ type: FRAMES.TYPING, room_id: rs.id });
  }
});
$("cancel-reply").addEventListener("click", clear);

// ---- mention autocomplete ------------------------------------------------------------
const suggest = (() => {
  const box = $("mention-list");
  let options = [];
  let active = -1;
  let query = null;
  let timer = null;

  function wordAtCursor() {
    const before = body.value.slice(0, body.selectionStart);
    const match = before.match(/(^|\s)@([^\s@]{1,50})$/);
    return match ? { q: match[2], start: before.length - match[2].length - 1 } : null;
  }

  function close() {
    box.hidden = true;
    options = [];
    active = -1;
    body.setAttribute("aria-expanded", "false");
    body.removeAttribute("aria-activedescendant");
  }

  function render() {
    box.replaceChildren();
    options.forEach((u, i) => {
      const li = document.createElement("li");
      li.id = `mention-${u.id}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === active));
      li.textContent = u.email ? `${u.name} (${u.email})` : u.name;
      li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(i); });
      box.append(li);
    });
    box.hidden = !options.length;
    body.setAttribute("aria-expanded", String(Boolean(options.length)));
    if (active >= 0) body.setAttribute("aria-activedescendant", `mention-${options[active].id}`);
  }

  function choose(i) {
    const u = options[i];
    const word = wordAtCursor();
    if (!u || !word) return close();
    remember(u);
    const label = `@${u.name}`;
    names.set(label, u.id);
    body.value = `${body.value.slice(0, word.start)}${label} ${body.value.slice(body.selectionStart)}`;
    close();
    body.focus();
  }

  function update() {
    const word = wordAtCursor();
    if (!word || !state.user) return close();
    if (word.q === query) return;
    query = word.q;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const { status, data } = await api(`/api/users?q=${encodeURIComponent(word.q)}`);
      if (status !== 200 || wordAtCursor()?.q !== word.q) return;
      options = data.users.slice(0, 8);
      active = options.length ? 0 : -1;
      render();
    }, 150);
  }

  function handleKey(event) {
    if (box.hidden || !options.length) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      render();
      return true;
    }
    if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); choose(active); return true; }
    if (event.key === "Escape") { close(); return true; }
    return false;
  }

  body.addEventListener("blur", () => setTimeout(close, 100));
  return { update, handleKey };
})();

on("reply", setReply);
on("edit", setEditing);
on("session", renderComposer);
on("rooms", renderComposer);
