// Text from the server reaches the DOM only as text nodes: links and mentions are
// elements built here, everything else is textContent.
import { state } from "./state.js";

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
const MENTION_RE = /<@(\d{1,18})>/g;

function linkify(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = match[0];
    a.textContent = match[0];
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    parent.append(a);
    last = match.index + match[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

// The body with `<@ID>` as @name (highlighted when it names the viewer) and links clickable.
export function renderBody(parent, text) {
  let last = 0;
  for (const match of text.matchAll(MENTION_RE)) {
    if (match.index > last) linkify(parent, text.slice(last, match.index));
    const id = Number(match[1]);
    const span = document.createElement("span");
    span.className = "mention";
    if (state.user && state.user.id === id) span.classList.add("me");
    span.textContent = `@${state.users.get(id)?.name ?? `user ${id}`}`;
    parent.append(span);
    last = match.index + match[0].length;
  }
  if (last < text.length) linkify(parent, text.slice(last));
}

export function plainBody(text) {
  return text.replace(MENTION_RE, (_, id) => `@${state.users.get(Number(id))?.name ?? `user ${id}`}`);
}

export function timeText(ns) {
  const d = new Date(Number(BigInt(ns) / 1000000n));
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function isoTime(ns) {
  return new Date(Number(BigInt(ns) / 1000000n)).toISOString();
}

export function roomLabel(room) {
  if (room.kind !== "direct") return room.name;
  const others = (room.members || []).filter((u) => !state.user || u.id !== state.user.id);
  return others.map((u) => u.name).join(", ") || "Just you";
}
