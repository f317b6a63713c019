// The one websocket: reconnects with backoff, pings, and keeps every message typed
// until the server answers for it (sent again after a reconnect, with the same
// client_id, so it is stored once).
import { FRAMES, emit, state } from "./state.js";

const PING_MS = 25000;
const conn = { ws: null, backoff: 500, timer: null, ping: null };
export const outbox = new Map(); // client_id -> message frame awaiting its answer

function setConn(s) {
  emit("connection", s);
}

export function send(frame) {
  if (conn.ws && state.online) { conn.ws.send(JSON.stringify(frame)); return true; }
  return false;
}

export function authSocket() {
  if (state.access) send({ type: FRAMES.AUTH, token: state.access });
}

export function sendMessage(frame) {
  outbox.set(frame.client_id, frame);
  return send(frame);
}

export function settled(clientId) {
  outbox.delete(clientId);
}

export function flushOutbox() {
  for (const frame of outbox.values()) send(frame);
}

export function reconnect() {
  if (conn.ws) conn.ws.close();
}

export function connect() {
  clearTimeout(conn.timer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/chat`);
  conn.ws = ws;
  setConn(conn.backoff > 500 ? "reconnecting" : "connecting");
  ws.onopen = () => {
    state.online = true;
    conn.backoff = 500;
    setConn("connected");
    authSocket();
    if (!state.access) flushOutbox();
    clearInterval(conn.ping);
    conn.ping = setInterval(() => send({ type: FRAMES.PING }), PING_MS);
  };
  ws.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch (_) { return; }
    emit("frame", frame);
  };
  ws.onclose = () => {
    state.online = false;
    clearInterval(conn.ping);
    if (conn.ws !== ws) return;
    setConn(navigator.onLine === false ? "offline" : "reconnecting");
    emit("disconnected");
    const delay = Math.min(conn.backoff, 15000) * (0.5 + Math.random());
    conn.backoff = Math.min(conn.backoff * 2, 15000);
    conn.timer = setTimeout(connect, delay);
  };
}

window.addEventListener("online", () => { if (!state.online) connect(); });
