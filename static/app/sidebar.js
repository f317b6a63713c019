// The rooms on the left: public rooms joined, private rooms, direct messages, with
// unread and mention badges. A drawer on narrow screens.
import { $, DEFAULT_ROOM, emit, on, state } from "./state.js";
import { roomLabel } from "./format.js";

const sections = { public: $("rooms-public"), private: $("rooms-private"), direct: $("rooms-direct") };

function item(rs) {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "room-link";
  b.dataset.roomId = String(rs.id);
  if (state.current === rs.id) b.setAttribute("aria-current", "page");
  const name = document.createElement("span");
  name.className = "room-name";
  name.textContent = (rs.room.kind === "direct" ? "" : rs.room.kind === "private" ? "🔒 " : "# ") + roomLabel(rs.room);
  b.append(name);
  let label = roomLabel(rs.room);
  if (rs.mentions) {
    const m = document.createElement("span");
    m.className = "badge mention-badge";
    m.textContent = `@${rs.mentions >= 1000 ? "999+" : rs.mentions}`;
    b.append(m);
    label += `, ${rs.mentions} mention${rs.mentions === 1 ? "" : "s"}`;
  }
  if (rs.unread) {
    const u = document.createElement("span");
    u.className = "badge unread-badge";
    u.textContent = rs.unread >= 1000 ? "999+" : String(rs.unread);
    b.append(u);
    label += `, ${rs.unread >= 1000 ? "1000 or more" : rs.unread} unread`;
    b.classList.add("has-unread");
  }
  b.setAttribute("aria-label", label);
  b.addEventListener("click", () => emit("open", rs.id));
  li.append(b);
  return li;
}

export function renderSidebar() {
  for (const ul of Object.values(sections)) ul.replaceChildren();
  const rooms = [...state.rooms.values()]
    .filter((rs) => rs.id === DEFAULT_ROOM || rs.member)
    .sort((a, b) => (a.id === DEFAULT_ROOM ? -1 : b.id === DEFAULT_ROOM ? 1 : roomLabel(a.room).localeCompare(roomLabel(b.room))));
  for (const rs of rooms) sections[rs.room.kind]?.append(item(rs));
  $("private-heading").hidden = !sections.private.children.length;
  $("direct-heading").hidden = !state.user;
  for (const id of ["open-create-room", "open-direct"]) $(id).hidden = !state.user;
  const mentions = [...state.rooms.values()].reduce((n, rs) => n + (rs.member ? rs.mentions : 0), 0);
  document.title = mentions ? `(${mentions}) Chat` : "Chat";
}

export function setDrawer(open) {
  document.body.classList.toggle("drawer-open", open);
  $("drawer-toggle").setAttribute("aria-expanded", String(open));
  if (open) $("sidebar").querySelector("button")?.focus();
}

$("drawer-toggle").addEventListener("click", () => setDrawer(!document.body.classList.contains("drawer-open")));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("drawer-open")) {
    setDrawer(false);
    $("drawer-toggle").focus();
  }
});
on("rooms", renderSidebar);
on("session", renderSidebar);
