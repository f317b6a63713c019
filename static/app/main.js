// The page: wires the socket's frames to the rooms, the screen to the reader.
import { authed, refreshSession } from "./api.js";
import { $, DEFAULT_ROOM, FRAMES, on, state } from "./state.js";
import { roomLabel } from "./format.js";
import { authSocket, connect, flushOutbox, outbox, reconnect, send, settled } from "./socket.js";
import {
  addMessages, loadAround, loadNewer, loadNewest, loadOlder, markDivider, loadRooms, onEventFrame, onRoomJoined, onRoomLeft, onTyping,
  roomState, typingIn,
} from "./rooms.js";
import { nearBottom, scrollToBottom, show } from "./timeline.js";
import { renderSidebar, setDrawer } from "./sidebar.js";
import { onFailed, renderComposer } from "./composer.js";
import { renderAccount } from "./account.js";
import { joinRoom, showRoomInfo } from "./dialogs.js";

const timeline = $("timeline");

// ---- frames ------------------------------------------------------------------------------
on("frame", (frame) => {
  switch (frame.type) {
    case FRAMES.MESSAGE:
      if (frame.message) settled(frame.message.client_id);
      if (frame.seq === undefined) { // a repeated client_id: the stored message, not a new event
        const rs = state.rooms.get(frame.message?.room_id);
        if (rs && rs.loaded) addMessages(rs, [frame.message]);
        break;
      }
      onEventFrame(frame);
      break;
    case FRAMES.MESSAGE_EDITED: case FRAMES.MESSAGE_DELETED: case FRAMES.REACTION:
    case FRAMES.MEMBER_JOINED: case FRAMES.MEMBER_LEFT: case FRAMES.ROOM_UPDATED:
      onEventFrame(frame);
      break;
    case FRAMES.ROOM_JOINED:
      onRoomJoined(frame.room);
      break;
    case FRAMES.ROOM_LEFT:
      onRoomLeft(frame.room_id);
      break;
    case FRAMES.MESSAGE_FAILED:
      if (frame.reason !== "token_expired") settled(frame.client_id);
      onFailed(frame);
      break;
    case FRAMES.USER_COUNT:
      $("counts").textContent = `${frame.authenticated} signed in · ${frame.anonymous} ${frame.anonymous === 1 ? "guest" : "guests"}`;
      break;
    case FRAMES.TYPING:
      onTyping(frame);
      break;
    case FRAMES.READ: {
      const rs = state.rooms.get(frame.room_id);
      if (rs && (rs.last_read_id ?? 0) < frame.message_id) {
        rs.last_read_id = frame.message_id;
        if (frame.message_id >= (rs.newestId ?? 0)) { rs.unread = 0; rs.mentions = 0; }
        else loadRooms();
        renderSidebar();
      }
      break;
    }
    case FRAMES.AUTH:
      state.user = { ...state.user, ...frame.user };
      flushOutbox(); // what was typed while disconnected
      break;
    case FRAMES.REFRESH:
      refreshSession().then((ok) => { if (ok) flushOutbox(); });
      break;
    case FRAMES.AUTH_FAILED:
      refreshSession();
      break;
    case FRAMES.ERROR:
      if (frame.reason === "too_many_sockets") toast("Too many open tabs: this one stays signed out of live updates.");
      break;
    default:
      break;
  }
});

on("connection", (s) => {
  $("conn").dataset.state = s;
  $("conn-text").textContent = { connected: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" }[s];
});

on("session", (user) => {
  if (user) authSocket();
  for (const rs of state.rooms.values()) {
    for (const el of rs.els.values()) el.classList.toggle("mine", Boolean(user && el.dataset.userId === String(user.id)));
  }
  loadRooms().then(() => { // signed in while looking at a room: what is on screen is read
    const rs = state.rooms.get(state.current);
    if (rs && rs.member && document.visibilityState === "visible" && (rs.unread || rs.mentions)) {
      rs.unread = 0;
      rs.mentions = 0;
      renderSidebar();
      markRead(rs);
    }
  });
});

on("logged-out", () => {
  for (const [id, rs] of state.rooms) if (rs.room.kind !== "public") state.rooms.delete(id);
  reconnect(); // a fresh connection counts as a guest
  open(DEFAULT_ROOM);
});

on("disconnected", () => {
  for (const rs of state.rooms.values()) rs.receiving = false;
});

// ---- the room on screen ---------------------------------------------------------------------
async function open(roomId) {
  const rs = state.rooms.get(roomId) || state.rooms.get(DEFAULT_ROOM);
  if (!rs) return;
  state.current = rs.id;
  localStorage.setItem("room", String(rs.id));
  $("room-title").textContent = (rs.room.kind === "public" ? "# " : rs.room.kind === "private" ? "🔒 " : "") + roomLabel(rs.room);
  $("room-topic").textContent = rs.room.topic || "";
  show(rs);
  renderTyping(rs);
  renderSidebar();
  renderComposer();
  setDrawer(false);
  if (!rs.receiving && rs.room.kind === "public" && !rs.member && rs.id !== DEFAULT_ROOM) {
    // a guest (or a non-member) browsing a public room: watch it for live events
    send({ type: FRAMES.WATCH, room_id: rs.id });
  }
  if (!rs.loaded) await loadNewest(rs);
  else if (rs.unread) markDivider(rs);
  scrollToBottom();
  if (rs.member && (rs.unread || rs.mentions)) { // open is read: the badge goes now, the server hears it next
    rs.unread = 0;
    rs.mentions = 0;
    renderSidebar();
  }
  maybeLoadOlder();
  markRead(rs);
}

function renderTyping(rs) {
  if (state.current !== rs.id) return;
  const names = typingIn(rs);
  $("typing").textContent = !names.length ? "" : names.length === 1 ? `${names[0]} is typing…`
    : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
}

// ---- read state -------------------------------------------------------------------------------
let readTimer = null;
function markRead(rs) {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (!state.user || state.current !== rs.id || !rs.member || document.visibilityState !== "visible") return;
    if (!nearBottom() || rs.newestId === null || (rs.last_read_id ?? 0) >= rs.newestId) return;
    const messageId = rs.newestId;
    const { status } = await authed(`/api/rooms/${rs.id}/read`, { method: "POST", body: { message_id: messageId } });
    if (status === 204 && (rs.last_read_id ?? 0) < messageId) {
      rs.last_read_id = messageId;
      rs.unread = 0;
      rs.mentions = 0;
      renderSidebar();
    }
  }, 800);
}

// ---- notifications inside the page ------------------------------------------------------------
on("notify", ({ rs, message }) => {
  if (document.visibilityState === "visible" && state.current === rs.id) return;
  if ("Notification" in window && Notification.permission === "granted") {
    const where = rs.room.kind === "direct" ? message.user.name : `${message.user.name} in ${roomLabel(rs.room)}`;
    const n = new Notification(where, { body: message.body.replace(/<@(\d+)>/g, (_, id) => `@${state.users.get(Number(id))?.name ?? id}`).slice(0, 200), tag: `room-${rs.id}` });
    n.onclick = () => { window.focus(); open(rs.id); };
  }
});

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

// ---- actions on messages ---------------------------------------------------------------------
on("react", async ({ message, emoji, add }) => {
  const { status } = await authed(`/api/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`, { method: add ? "PUT" : "DELETE" });
  if (status !== 204) toast(status === 429 ? "Too many reactions; wait a moment." : "Could not react.");
});
on("delete", async (message) => {
  if (!window.confirm("Delete this message for everyone?")) return;
  const { status } = await authed(`/api/messages/${message.id}`, { method: "DELETE" });
  if (status !== 204) toast("Could not delete the message.");
});
on("jump", async ({ roomId, messageId }) => {
  let rs = state.rooms.get(roomId);
  if (!rs) { await loadRooms(); rs = state.rooms.get(roomId); }
  if (!rs) return;
  await open(roomId);
  if (!rs.messages.has(messageId)) await loadAround(rs, messageId);
  show(rs);
  const el = rs.els.get(messageId);
  if (el) {
    el.scrollIntoView({ block: "center" });
    el.classList.add("flash");
    el.tabIndex = -1;
    el.focus();
    setTimeout(() => el.classList.remove("flash"), 2000);
  }
});
on("open", open);
on("toast", toast);
on("typing", renderTyping);
on("seen", markRead);
on("rooms", () => {
  const rs = state.rooms.get(state.current);
  if (rs) {
    $("room-title").textContent = (rs.room.kind === "public" ? "# " : rs.room.kind === "private" ? "🔒 " : "") + roomLabel(rs.room);
    $("room-topic").textContent = rs.room.topic || "";
  }
});

$("join-room").addEventListener("click", async () => {
  if (await joinRoom(state.current)) renderComposer();
});
$("room-info").addEventListener("click", () => showRoomInfo(state.current));

// ---- scrolling ------------------------------------------------------------------------------
function maybeLoadOlder() {
  const rs = state.rooms.get(state.current);
  if (rs && rs.hasMoreOlder && timeline.scrollTop < 120) {
    $("loading-older").hidden = false;
    loadOlder(rs).then(() => { $("loading-older").hidden = true; maybeLoadOlder(); });
  }
}
timeline.addEventListener("scroll", async () => {
  const rs = state.rooms.get(state.current);
  if (nearBottom()) {
    $("new-pill").hidden = true;
    if (rs?.gapAfter) await loadNewer(rs); // after a jump: newer messages as the reader scrolls down
    if (rs) markRead(rs);
  }
  maybeLoadOlder();
});
$("new-pill").addEventListener("click", () => { scrollToBottom(); const rs = state.rooms.get(state.current); if (rs) markRead(rs); });
document.addEventListener("visibilitychange", () => {
  const rs = state.rooms.get(state.current);
  if (rs && document.visibilityState === "visible") markRead(rs);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && document.activeElement === document.body) { event.preventDefault(); $("search-input").focus(); }
});

// ---- start -------------------------------------------------------------------------------------
renderAccount();
renderComposer();
window.chatOutbox = outbox; // for the tests: what waits for an answer
(async () => {
  // The refresh cookie is HttpOnly; the "signed_in" hint says whether asking is worth it.
  if (document.cookie.split("; ").includes("signed_in=1")) await refreshSession();
  await loadRooms();
  if (!state.rooms.has(DEFAULT_ROOM)) roomState({ id: DEFAULT_ROOM, kind: "public", name: "general", topic: "", member_count: 0, last_seq: 0 });
  const saved = Number(localStorage.getItem("room"));
  await open(state.rooms.has(saved) ? saved : DEFAULT_ROOM);
  connect();
})();
