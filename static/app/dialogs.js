// Rooms: create, browse and join, start a direct message, the room's members and
// topic, and search.
import { api, authed } from "./api.js";
import { $, emit, remember, state } from "./state.js";
import { plainBody, roomLabel, timeText } from "./format.js";
import { describeThrottle, setupDialog } from "./account.js";
import { loadRooms, roomState } from "./rooms.js";

// ---- create a room -----------------------------------------------------------------
const createDialog = setupDialog("create-room-dialog", "create-room-form", async (values) => {
  const { status, data } = await authed("/api/rooms", { method: "POST", body: {
    name: values.name, kind: values.kind, topic: values.topic || "" } });
  if (status !== 201) return describeThrottle(status, data) || data;
  const rs = roomState(data);
  rs.member = true;
  emit("rooms");
  emit("open", data.id);
  return null;
});
$("open-create-room").addEventListener("click", () => createDialog.showModal());

// ---- browse public rooms ---------------------------------------------------------------
const browseDialog = $("browse-dialog");
browseDialog.querySelector("[data-close]").addEventListener("click", () => browseDialog.close());
$("open-browse").addEventListener("click", async () => {
  await loadRooms();
  const list = $("browse-list");
  list.replaceChildren();
  for (const rs of [...state.rooms.values()].filter((r) => r.room.kind === "public")) {
    const li = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = `# ${rs.room.name}`;
    const topic = document.createElement("span");
    topic.className = "muted";
    topic.textContent = ` ${rs.room.topic || ""} · ${rs.room.member_count} member${rs.room.member_count === 1 ? "" : "s"}`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "btn ghost";
    open.textContent = rs.member ? "Open" : state.user ? "Join" : "View";
    open.setAttribute("aria-label", `${open.textContent} ${rs.room.name}`);
    open.addEventListener("click", async () => {
      if (!rs.member && state.user) await joinRoom(rs.id);
      browseDialog.close();
      emit("open", rs.id);
    });
    li.append(title, topic, open);
    list.append(li);
  }
  browseDialog.showModal();
});

export async function joinRoom(roomId) {
  const { status, data } = await authed(`/api/rooms/${roomId}/join`, { method: "POST" });
  if (status !== 200) { emit("toast", data?.detail || "Could not join the room."); return false; }
  const rs = roomState(data);
  rs.member = true;
  emit("rooms");
  return true;
}

// ---- people: direct messages and adding members -------------------------------------------
function peoplePicker(inputId, listId, onPick) {
  const input = $(inputId);
  const list = $(listId);
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { list.replaceChildren(); return; }
    timer = setTimeout(async () => {
      const { status, data } = await authed(`/api/users?q=${encodeURIComponent(q)}`);
      if (status !== 200 || input.value.trim() !== q) return;
      list.replaceChildren();
      for (const u of data.users.filter((x) => !state.user || x.id !== state.user.id)) {
        remember(u);
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.className = "person";
        b.textContent = `${u.name} (${u.email})`;
        b.addEventListener("click", () => onPick(u));
        li.append(b);
        list.append(li);
      }
      if (!list.children.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = "Nobody by that name.";
        list.append(li);
      }
    }, 200);
  });
  return () => { input.value = ""; list.replaceChildren(); };
}

const directDialog = $("direct-dialog");
directDialog.querySelector("[data-close]").addEventListener("click", () => directDialog.close());
const resetDirect = peoplePicker("direct-search", "direct-results", async (u) => {
  const { status, data } = await authed("/api/direct", { method: "POST", body: { user_ids: [u.id] } });
  if (status !== 200 && status !== 201) { emit("toast", data?.user_ids?.join(" ") || "Could not open the conversation."); return; }
  const rs = roomState(data);
  rs.member = true;
  directDialog.close();
  emit("rooms");
  emit("open", data.id);
});
$("open-direct").addEventListener("click", () => { resetDirect(); directDialog.showModal(); $("direct-search").focus(); });

// ---- the room: topic, members, leave -------------------------------------------------------
const infoDialog = $("room-dialog");
infoDialog.querySelector("[data-close]").addEventListener("click", () => infoDialog.close());
let infoRoom = null;
const resetAdd = peoplePicker("add-member-search", "add-member-results", async (u) => {
  const { status, data } = await authed(`/api/rooms/${infoRoom}/members`, { method: "POST", body: { user_id: u.id } });
  if (status !== 201) { emit("toast", data?.user_id?.join(" ") || data?.detail || "Could not add them."); return; }
  resetAdd();
  showRoomInfo(infoRoom, { refresh: true });
});

export async function showRoomInfo(roomId, { refresh = false } = {}) {
  infoRoom = roomId;
  const rs = state.rooms.get(roomId);
  if (!rs) return;
  $("room-dialog-title").textContent = roomLabel(rs.room);
  $("room-dialog-topic").textContent = rs.room.topic || (rs.room.kind === "direct" ? "Direct messages" : "No topic yet.");
  const list = $("member-list");
  list.replaceChildren();
  const { status, data } = await api(`/api/rooms/${roomId}/members`);
  const mine = state.user && status === 200 && data.members.find((m) => m.user.id === state.user.id);
  const owner = mine && mine.role === "owner";
  if (status === 200) {
    for (const { user, role } of data.members) {
      remember(user);
      const li = document.createElement("li");
      li.textContent = `${user.name}${role === "owner" ? " (owner)" : ""}`;
      if ((owner || state.user?.is_staff) && rs.room.kind !== "direct" && roomId !== 1 && user.id !== state.user.id) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn ghost";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", `Remove ${user.name}`);
        remove.addEventListener("click", async () => {
          await authed(`/api/rooms/${roomId}/members/${user.id}`, { method: "DELETE" });
          showRoomInfo(roomId, { refresh: true });
        });
        li.append(" ", remove);
      }
      list.append(li);
    }
  }
  const canAdd = state.user && rs.member && roomId !== 1 && rs.room.kind !== "direct" && (rs.room.kind === "public" || owner);
  $("add-member").hidden = !canAdd;
  $("topic-form").hidden = !(owner && rs.room.kind !== "direct");
  $("topic-input").value = rs.room.topic || "";
  $("leave-room").hidden = !(state.user && rs.member && roomId !== 1 && rs.room.kind !== "direct");
  if (!refresh && !infoDialog.open) infoDialog.showModal(); // a refresh never reopens a dialog closed meanwhile
}

$("topic-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { status, data } = await authed(`/api/rooms/${infoRoom}`, { method: "PATCH", body: { topic: $("topic-input").value } });
  if (status !== 200) { emit("toast", data?.topic?.join(" ") || "Could not change the topic."); return; }
  roomState(data);
  emit("rooms");
  showRoomInfo(infoRoom, { refresh: true });
});

$("leave-room").addEventListener("click", async () => {
  const { status } = await authed(`/api/rooms/${infoRoom}/leave`, { method: "POST" });
  if (status === 204) {
    const rs = state.rooms.get(infoRoom);
    if (rs) rs.member = false;
    infoDialog.close();
    emit("rooms");
    emit("open", 1);
  }
});

// ---- search --------------------------------------------------------------------------------
const searchDialog = $("search-dialog");
searchDialog.querySelector("[data-close]").addEventListener("click", () => searchDialog.close());
$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("search-input").value.trim();
  if (!q) return;
  const { status, data } = await api(`/api/search?q=${encodeURIComponent(q)}&limit=30`);
  const list = $("search-results");
  list.replaceChildren();
  if (status !== 200) {
    const li = document.createElement("li");
    li.textContent = status === 503 ? "Search is busy; try again." : "Type some words to search for.";
    list.append(li);
  } else if (!data.results.length) {
    const li = document.createElement("li");
    li.textContent = "No messages match.";
    list.append(li);
  }
  for (const m of data?.results || []) {
    remember(m.user);
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "result";
    const where = state.rooms.get(m.room_id);
    const head = document.createElement("span");
    head.className = "muted";
    head.textContent = `${where ? roomLabel(where.room) : `room ${m.room_id}`} · ${m.user.name} · ${timeText(m.ts)}`;
    const text = document.createElement("span");
    text.className = "result-body";
    text.textContent = (m.subject ? `${m.subject}: ` : "") + plainBody(m.body);
    b.append(head, text);
    b.addEventListener("click", () => { searchDialog.close(); emit("jump", { roomId: m.room_id, messageId: m.id }); });
    li.append(b);
    list.append(li);
  }
  if (!searchDialog.open) searchDialog.showModal();
});
