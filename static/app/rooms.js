// Each room the page knows: its payload, read state, messages, and where its stream
// is (`seq`). Event frames are applied in seq order; a gap or a reconnect replays
// `/api/rooms/{id}/events?after=` (410: the room's messages are loaded again).
import { api } from "./api.js";
import { DEFAULT_ROOM, FRAMES, emit, remember, state } from "./state.js";
import { buildMessage, fill, keepScroll, newList, show } from "./timeline.js";

const PAGE = 50;

export function roomState(room) {
  let rs = state.rooms.get(room.id);
  if (!rs) {
    rs = {
      id: room.id, room, member: room.id === DEFAULT_ROOM && Boolean(state.user), unread: 0, mentions: 0,
      last_read_id: null, seq: null, receiving: false, messages: new Map(), els: new Map(), list: newList(),
      oldestId: null, newestId: null, hasMoreOlder: true, loaded: false, loading: null, deleted: new Set(),
      divider: false, replaying: null, typing: new Map(),
    };
    state.rooms.set(room.id, rs);
  } else {
    rs.room = { ...rs.room, ...room };
  }
  for (const u of room.members || []) remember(u);
  return rs;
}

// GET /api/rooms: listing, membership and read state.
export async function loadRooms() {
  const { status, data } = await api("/api/rooms");
  if (status !== 200) return;
  const seen = new Set();
  for (const r of data.rooms) {
    const rs = roomState(r);
    rs.member = r.member;
    rs.unread = r.unread;
    rs.mentions = r.mentions;
    rs.last_read_id = r.last_read_id;
    seen.add(r.id);
  }
  for (const [id, rs] of state.rooms) {
    if (!seen.has(id) && rs.room.kind !== "public") state.rooms.delete(id);
    else if (!seen.has(id)) rs.member = false;
  }
  emit("rooms");
}

// Names of people a payload names only by id (reactions, mentions): the room's members, once.
function learnNames(rs, m) {
  const ids = [...(m.mentions || []), ...(m.reactions || []).flatMap((r) => r.user_ids)];
  if (rs.membersFetched || !ids.some((id) => !state.users.has(id))) return;
  rs.membersFetched = api(`/api/rooms/${rs.id}/members`).then(({ status, data }) => {
    if (status !== 200) return;
    for (const { user } of data.members) remember(user);
    for (const [id, message] of rs.messages) fill(rs.els.get(id), message, rs);
  });
}

function insert(rs, m) {
  if (rs.deleted.has(m.id)) return null;
  remember(m.user);
  learnNames(rs, m);
  const known = rs.messages.get(m.id);
  rs.messages.set(m.id, m);
  if (known) {
    fill(rs.els.get(m.id), m, rs);
    return null;
  }
  const li = buildMessage(m, { rs });
  let before = null;
  if (rs.newestId !== null && m.id < rs.newestId) {
    for (const el of rs.list.querySelectorAll("li.msg[data-id]")) {
      if (Number(el.dataset.id) > m.id) { before = el; break; }
    }
  }
  rs.list.insertBefore(li, before || rs.list.querySelector("li.msg:not([data-id])"));
  rs.els.set(m.id, li);
  const newer = rs.newestId === null || m.id > rs.newestId;
  if (newer) rs.newestId = m.id;
  if (rs.oldestId === null || m.id < rs.oldestId) rs.oldestId = m.id;
  return newer ? "newer" : "older";
}

export function addMessages(rs, messages) {
  keepScroll(rs, () => {
    let grew = null;
    for (const m of messages) {
      const pending = m.client_id && rs.list.querySelector(`li.msg.pending[data-client-id="${CSS.escape(m.client_id)}"], li.msg.failed[data-client-id="${CSS.escape(m.client_id)}"]`);
      if (pending && state.user && m.user.id === state.user.id) pending.remove();
      grew = insert(rs, m) || grew;
    }
    return grew;
  });
}

export function markDivider(rs) {
  // "New messages" below the last message read, each time the room is opened with some.
  rs.list.querySelector("li.divider")?.remove();
  if (!rs.last_read_id || !state.user) return;
  const after = [...rs.els.entries()].sort((a, b) => a[0] - b[0])
    .find(([id, el]) => id > rs.last_read_id && el.dataset.userId !== String(state.user.id));
  if (!after) return;
  rs.divider = true;
  const li = document.createElement("li");
  li.className = "divider";
  li.setAttribute("role", "separator");
  li.textContent = "New messages";
  rs.list.insertBefore(li, after[1]);
}

export async function loadNewest(rs) {
  const { status, data } = await api(`/api/rooms/${rs.id}/messages?limit=${PAGE}`);
  if (status !== 200) return false;
  addMessages(rs, data.messages);
  rs.hasMoreOlder = data.has_more;
  rs.loaded = true;
  markDivider(rs);
  if (state.current === rs.id) show(rs);
  return true;
}

export async function loadOlder(rs) {
  if (rs.loading || !rs.hasMoreOlder || !rs.loaded) return;
  rs.loading = (async () => {
    const cursor = rs.oldestId === null ? "" : `&before=${rs.oldestId}`;
    const { status, data } = await api(`/api/rooms/${rs.id}/messages?limit=${PAGE}${cursor}`);
    if (status === 200) {
      keepScroll(rs, () => {
        for (const m of [...data.messages].reverse()) insert(rs, m);
        return "older";
      });
      rs.hasMoreOlder = data.has_more;
      if (state.current === rs.id) show(rs);
    }
  })();
  try { await rs.loading; } finally { rs.loading = null; }
}

// The page around one message (a search result, a quote): the messages before it and it.
export async function loadAround(rs, messageId) {
  if (rs.messages.has(messageId)) return true;
  const { status, data } = await api(`/api/rooms/${rs.id}/messages?limit=${PAGE}&before=${messageId + 1}`);
  if (status !== 200) return false;
  resetRoom(rs);
  addMessages(rs, data.messages);
  rs.hasMoreOlder = data.has_more;
  rs.loaded = true;
  rs.gapAfter = true; // newer messages than this page exist: scrolling down loads them
  return rs.messages.has(messageId);
}

// After a jump: the messages newer than those held, a page at a time, the view kept where it is.
export async function loadNewer(rs) {
  if (!rs.gapAfter || rs.loadingNewer) return;
  rs.loadingNewer = true;
  try {
    const { status, data } = await api(`/api/rooms/${rs.id}/messages?limit=${PAGE}&after=${rs.newestId ?? 0}`);
    if (status !== 200) return;
    for (const m of data.messages) insert(rs, m);
    rs.gapAfter = data.has_more;
  } finally {
    rs.loadingNewer = false;
  }
}

export function resetRoom(rs) {
  rs.messages.clear();
  rs.els.clear();
  const list = newList();
  rs.list.replaceWith(list);
  rs.list = list;
  rs.oldestId = rs.newestId = null;
  rs.hasMoreOlder = true;
  rs.loaded = false;
  rs.divider = false;
  rs.gapAfter = false;
}

// ---- the stream ------------------------------------------------------------------
async function replay(rs) {
  if (rs.replaying) return rs.replaying;
  rs.replaying = (async () => {
    try {
      while (rs.seq !== null) {
        const { status, data } = await api(`/api/rooms/${rs.id}/events?after=${rs.seq}&limit=500`);
        if (status === 410) { resetRoom(rs); await loadNewest(rs); return; }
        if (status !== 200) return;
        for (const frame of data.events) applyEvent(rs, frame);
        if (!data.has_more) return;
      }
    } finally {
      rs.replaying = null;
    }
  })();
  return rs.replaying;
}

export function onEventFrame(frame) {
  const rs = state.rooms.get(frame.room_id);
  if (!rs) return;
  if (rs.seq === null) { applyEvent(rs, frame); return; }
  if (frame.seq <= rs.seq) return;
  if (frame.seq > rs.seq + 1 || rs.replaying) { replay(rs); return; }
  applyEvent(rs, frame);
}

function applyEvent(rs, frame) {
  if (rs.seq !== null && frame.seq <= rs.seq) return;
  rs.seq = frame.seq;
  switch (frame.type) {
    case FRAMES.MESSAGE:
      if (frame.message) onNewMessage(rs, frame.message);
      break;
    case FRAMES.MESSAGE_EDITED:
      if (frame.message && rs.messages.has(frame.message.id)) insert(rs, frame.message);
      break;
    case FRAMES.MESSAGE_DELETED: {
      rs.deleted.add(frame.id);
      rs.messages.delete(frame.id);
      rs.els.get(frame.id)?.remove();
      rs.els.delete(frame.id);
      for (const [id, m] of rs.messages) if (m.reply_to === frame.id) fill(rs.els.get(id), m, rs);
      break;
    }
    case FRAMES.REACTION: {
      const m = rs.messages.get(frame.message_id);
      if (!m) break;
      const reactions = (m.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
      let entry = reactions.find((r) => r.emoji === frame.emoji);
      if (frame.op === "add") {
        if (!entry) { entry = { emoji: frame.emoji, user_ids: [] }; reactions.push(entry); }
        if (!entry.user_ids.includes(frame.user_id)) entry.user_ids.push(frame.user_id);
      } else if (entry) {
        entry.user_ids = entry.user_ids.filter((id) => id !== frame.user_id);
      }
      insert(rs, { ...m, reactions: reactions.filter((r) => r.user_ids.length) });
      break;
    }
    case FRAMES.MEMBER_JOINED:
      remember(frame.user);
      rs.room = { ...rs.room, member_count: (rs.room.member_count || 0) + 1 };
      if (state.user && frame.user.id === state.user.id) rs.member = true;
      emit("rooms");
      break;
    case FRAMES.MEMBER_LEFT:
      rs.room = { ...rs.room, member_count: Math.max(0, (rs.room.member_count || 1) - 1) };
      if (state.user && frame.user_id === state.user.id) rs.member = false;
      emit("rooms");
      break;
    case FRAMES.ROOM_UPDATED:
      rs.room = { ...rs.room, ...frame.room };
      emit("rooms");
      break;
    default:
      break;
  }
}

function onNewMessage(rs, m) {
  const others = !state.user || m.user.id !== state.user.id;
  const looking = state.current === rs.id && document.visibilityState === "visible";
  if ((!rs.loaded && state.current !== rs.id) || rs.gapAfter) {
    // Not loaded yet, or newer pages still to load after a jump: it comes with them.
  } else {
    addMessages(rs, [m]);
  }
  stopTyping(rs, m.user.id);
  if (!others) rs.last_read_id = Math.max(rs.last_read_id ?? 0, m.id); // sending marks it read (server too)
  if (others && rs.member && !looking) {
    rs.unread += 1;
    const mentioned = state.user && (m.mentions || []).includes(state.user.id);
    if (mentioned) rs.mentions += 1;
    emit("rooms");
    if (mentioned || rs.room.kind === "direct") emit("notify", { rs, message: m });
  }
  if (looking) emit("seen", rs);
}

export function onRoomJoined(room) {
  const rs = roomState(room);
  rs.receiving = true;
  if (rs.seq === null || room.last_seq < rs.seq) {
    rs.seq = room.last_seq;
  } else if (room.last_seq > rs.seq) {
    replay(rs); // reconnected: what was missed, exactly once
  }
  if (state.user && room.kind !== "public") rs.member = true;
  if (state.user && room.id === DEFAULT_ROOM) rs.member = true;
  emit("rooms");
}

export function onRoomLeft(roomId) {
  const rs = state.rooms.get(roomId);
  if (!rs) return;
  rs.receiving = false;
  rs.seq = null;
  if (rs.room.kind !== "public") {
    state.rooms.delete(roomId);
    if (state.current === roomId) emit("open", DEFAULT_ROOM);
  } else if (roomId !== DEFAULT_ROOM) {
    rs.member = false;
  }
  emit("rooms");
}

export function typingIn(rs) {
  return [...rs.typing.keys()].map((id) => state.users.get(id)?.name ?? "Someone");
}

export function onTyping(frame) {
  const rs = state.rooms.get(frame.room_id);
  if (!rs) return;
  remember(frame.user);
  clearTimeout(rs.typing.get(frame.user.id));
  rs.typing.set(frame.user.id, setTimeout(() => { rs.typing.delete(frame.user.id); emit("typing", rs); }, 5000));
  emit("typing", rs);
}

export function stopTyping(rs, userId) {
  clearTimeout(rs.typing.get(userId));
  if (rs.typing.delete(userId)) emit("typing", rs);
}
