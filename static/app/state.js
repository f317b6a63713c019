// One state object for the page, and a small event bus between the modules.
export const state = {
  access: null, // the access token, in memory only
  user: null, // the signed-in User, or null for a guest
  rooms: new Map(), // room id -> RoomState (rooms.js)
  current: null, // the id of the room on screen
  users: new Map(), // user id -> User, from every payload seen (to render <@ID> as @name)
  online: false, // the socket is open
};

export const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  bus.addEventListener(name, (event) => handler(event.detail));
}

export const DEFAULT_ROOM = 1;

// Frame types of the contract, named once.
export const FRAMES = Object.freeze({
  PING: "ping", PONG: "pong", AUTH: "auth", AUTH_FAILED: "auth_failed", REFRESH: "refresh", ERROR: "error",
  MESSAGE: "message", MESSAGE_FAILED: "message_failed", MESSAGE_EDITED: "message_edited",
  MESSAGE_DELETED: "message_deleted", REACTION: "reaction", MEMBER_JOINED: "member_joined",
  MEMBER_LEFT: "member_left", ROOM_UPDATED: "room_updated", ROOM_JOINED: "room_joined", ROOM_LEFT: "room_left",
  USER_COUNT: "user_count", TYPING: "typing", READ: "read", WATCH: "watch", UNWATCH: "unwatch",
});

export function remember(user) {
  if (user && user.id !== undefined) state.users.set(user.id, { ...state.users.get(user.id), ...user });
}

export const $ = (id) => document.getElementById(id);
