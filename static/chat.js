// The chat page. It speaks only the public contract (docs/protocol.md).
// Text from the server only ever reaches the DOM through textContent / text nodes.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const PING_MS = 25000;
  const REASONS = {
    unauthenticated: "You are signed out. Sign in and retry.",
    token_expired: "Your session expired; reconnecting…",
    invalid: "Too long or empty (subject ≤ 200, message ≤ 4000 characters).",
    rate_limited: "You are sending too fast. Wait a moment and retry.",
    unavailable: "The server could not store it. Retry in a moment.",
    offline: "Not connected. It will be sent when you retry.",
  };

  const state = {
    access: null, // in memory only
    user: null,
    ws: null,
    wsOpen: false,
    backoff: 500,
    reconnectTimer: null,
    pingTimer: null,
    byId: new Map(), // id -> element
    lastId: null,
    oldestId: null,
    hasMoreOlder: true,
    loadingOlder: false,
    backfilling: null,
    pending: new Map(), // client_id -> {element, frame}
  };

  // ---- HTTP --------------------------------------------------------------------
  async function api(path, { method = "GET", body, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && state.access) headers.Authorization = `Bearer ${state.access}`;
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { /* 204 or not JSON */ }
    return { status: response.status, data };
  }

  function signedIn(session) {
    state.access = session.access;
    state.user = session.user;
    renderAccount();
    authSocket();
    for (const el of state.byId.values()) markMine(el);
  }

  function signedOut() {
    state.access = null;
    state.user = null;
    renderAccount();
  }

  let refreshing = null;
  function refreshSession() {
    // One refresh at a time per tab; the server's grace period covers two tabs at once.
    if (!refreshing) {
      refreshing = api("/api/refresh_credentials", { method: "POST", auth: false })
        .then(({ status, data }) => {
          if (status === 200) { signedIn(data); return true; }
          if (status === 401) signedOut();
          return false;
        })
        .catch(() => false)
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  // ---- rendering ------------------------------------------------------------------
  const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

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

  function timeText(ns) {
    const d = new Date(Number(BigInt(ns) / 1000000n));
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function buildMessage(m, { pending = false } = {}) {
    const li = document.createElement("li");
    li.className = "msg";
    li.dataset.userId = String(m.user.id);
    if (m.id !== undefined) li.dataset.id = String(m.id);
    if (m.client_id) li.dataset.clientId = m.client_id;
    if (pending) li.classList.add("pending");
    const header = document.createElement("header");
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = m.user.name;
    if (m.user.email) {
      author.dataset.email = m.user.email;
      author.tabIndex = 0;
      author.setAttribute("aria-label", `${m.user.name} (${m.user.email})`);
    }
    header.append(author);
    const you = document.createElement("span");
    you.className = "you";
    header.append(you);
    const time = document.createElement("time");
    time.className = "time";
    if (m.ts !== undefined) {
      time.dateTime = new Date(Number(BigInt(m.ts) / 1000000n)).toISOString();
      time.textContent = timeText(m.ts);
    } else {
      time.textContent = "sending…";
    }
    header.append(time);
    li.append(header);
    if (m.subject) {
      const subject = document.createElement("p");
      subject.className = "subject";
      subject.textContent = m.subject;
      li.append(subject);
    }
    const body = document.createElement("p");
    body.className = "body";
    linkify(body, m.body);
    li.append(body);
    markMine(li);
    return li;
  }

  function markMine(li) {
    const mine = state.user && li.dataset.userId === String(state.user.id);
    li.classList.toggle("mine", Boolean(mine));
    const you = li.querySelector(".you");
    if (you) you.textContent = mine ? "you" : "";
  }

  const list = $("messages");
  const timeline = $("timeline");

  function nearBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
  }

  function scrollToBottom() {
    timeline.scrollTop = timeline.scrollHeight;
    $("new-pill").hidden = true;
  }

  // Inserts stored messages in id order; never twice.
  function addMessages(messages) {
    const pinned = nearBottom();
    let appendedNew = false;
    for (const m of messages) {
      if (state.byId.has(m.id)) continue;
      const li = buildMessage(m);
      const pending = m.client_id && state.pending.get(m.client_id);
      if (pending && state.user && m.user.id === state.user.id) {
        pending.element.remove();
        state.pending.delete(m.client_id);
      }
      // find the first stored element with a larger id (usually none: append)
      let before = null;
      if (state.lastId !== null && m.id < state.lastId) {
        for (const el of list.querySelectorAll("li.msg[data-id]")) {
          if (Number(el.dataset.id) > m.id) { before = el; break; }
        }
      }
      const firstPending = list.querySelector("li.msg:not([data-id])");
      list.insertBefore(li, before || firstPending);
      state.byId.set(m.id, li);
      if (state.lastId === null || m.id > state.lastId) { state.lastId = m.id; appendedNew = true; }
      if (state.oldestId === null || m.id < state.oldestId) state.oldestId = m.id;
    }
    if (appendedNew) {
      if (pinned) scrollToBottom();
      else $("new-pill").hidden = false;
    }
  }

  function prependOlder(messages) {
    const oldHeight = timeline.scrollHeight;
    const oldTop = timeline.scrollTop;
    const first = list.firstChild;
    for (const m of messages) {
      if (state.byId.has(m.id)) continue;
      const li = buildMessage(m);
      list.insertBefore(li, first);
      state.byId.set(m.id, li);
      if (state.oldestId === null || m.id < state.oldestId) state.oldestId = m.id;
      if (state.lastId === null || m.id > state.lastId) state.lastId = m.id;
    }
    timeline.scrollTop = oldTop + (timeline.scrollHeight - oldHeight);
  }

  function removeMessage(id) {
    const el = state.byId.get(id);
    if (el) { el.remove(); state.byId.delete(id); }
  }

  // ---- history --------------------------------------------------------------------
  async function loadNewest() {
    const { status, data } = await api(`/api/messages?limit=${PAGE}`);
    if (status !== 200) return;
    addMessages(data.messages);
    state.hasMoreOlder = data.has_more;
    $("start-row").hidden = state.hasMoreOlder;
    scrollToBottom();
    maybeLoadOlder();
  }

  async function loadOlder() {
    if (state.loadingOlder || !state.hasMoreOlder) return;
    state.loadingOlder = true;
    $("loading-older").hidden = false;
    try {
      const cursor = state.oldestId === null ? "" : `&before=${state.oldestId}`;
      const { status, data } = await api(`/api/messages?limit=${PAGE}${cursor}`);
      if (status === 200) {
        prependOlder(data.messages); // oldest first, each placed before the old first row
        state.hasMoreOlder = data.has_more;
        $("start-row").hidden = state.hasMoreOlder;
      }
    } finally {
      state.loadingOlder = false;
      $("loading-older").hidden = true;
    }
    maybeLoadOlder();
  }

  function maybeLoadOlder() {
    // keep loading while the page is not scrollable or the reader is at the top
    if (state.hasMoreOlder && timeline.scrollTop < 120) loadOlder();
  }

  async function backfill() {
    // `after=` from the last id held until nothing is missing (contract: gap recovery).
    if (state.backfilling) return state.backfilling;
    state.backfilling = (async () => {
      try {
        for (;;) {
          if (state.lastId === null) { await loadNewest(); return; }
          const { status, data } = await api(`/api/messages?after=${state.lastId}&limit=100`);
          if (status !== 200) return;
          addMessages(data.messages);
          if (!data.has_more) return;
        }
      } finally {
        state.backfilling = null;
      }
    })();
    return state.backfilling;
  }

  // ---- the socket -------------------------------------------------------------------
  function setConn(s) {
    const el = $("conn");
    el.dataset.state = s;
    $("conn-text").textContent = { connected: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" }[s];
  }

  function send(frame) {
    if (state.ws && state.wsOpen) { state.ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function authSocket() {
    if (state.access) send({ type: "auth", token: state.access });
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/chat`);
    state.ws = ws;
    setConn(state.backoff > 500 ? "reconnecting" : "connecting");
    ws.onopen = () => {
      state.wsOpen = true;
      state.backoff = 500;
      setConn("connected");
      authSocket();
      backfill();
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(() => send({ type: "ping" }), PING_MS);
    };
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      onFrame(frame);
    };
    ws.onclose = () => {
      state.wsOpen = false;
      clearInterval(state.pingTimer);
      if (state.ws !== ws) return;
      setConn(navigator.onLine === false ? "offline" : "reconnecting");
      const delay = Math.min(state.backoff, 15000) * (0.5 + Math.random());
      state.backoff = Math.min(state.backoff * 2, 15000);
      state.reconnectTimer = setTimeout(connect, delay);
    };
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "message": {
        const m = frame.message;
        if (state.lastId !== null && m.prev_id !== null && m.prev_id !== state.lastId && m.id > state.lastId) {
          backfill().then(() => addMessages([m]));
        } else {
          addMessages([m]);
        }
        break;
      }
      case "user_count":
        $("counts").textContent = `${frame.authenticated} signed in · ${frame.anonymous} ${frame.anonymous === 1 ? "guest" : "guests"}`;
        break;
      case "message_deleted":
        removeMessage(frame.id);
        break;
      case "message_failed":
        onFailed(frame);
        break;
      case "refresh":
        refreshSession().then((ok) => { if (ok) retryExpired(); });
        break;
      case "auth_failed":
        // the token is no good (or the account was deactivated): try the cookie once
        refreshSession();
        break;
      default:
        break;
    }
  }

  // ---- composing ----------------------------------------------------------------------
  function newClientId() {
    return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).slice(0, 64);
  }

  function submitMessage(subject, body, clientId = newClientId()) {
    const frame = { type: "message", subject, body, client_id: clientId };
    let entry = state.pending.get(clientId);
    if (!entry) {
      const element = buildMessage({ user: state.user, subject, body, client_id: clientId }, { pending: true });
      list.append(element);
      entry = { element, frame };
      state.pending.set(clientId, entry);
      scrollToBottom();
    }
    entry.element.classList.remove("failed");
    entry.element.classList.add("pending");
    entry.element.querySelector(".status")?.remove();
    if (!send(frame)) onFailed({ client_id: clientId, reason: "offline" });
  }

  function onFailed(frame) {
    const entry = state.pending.get(frame.client_id);
    if (!entry) return;
    if (frame.reason === "token_expired") { entry.expired = true; return; }
    entry.element.classList.remove("pending");
    entry.element.classList.add("failed");
    entry.element.querySelector(".status")?.remove();
    const status = document.createElement("div");
    status.className = "status";
    status.setAttribute("role", "alert");
    const words = document.createElement("span");
    words.textContent = REASONS[frame.reason] || "Not sent.";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => submitMessage(entry.frame.subject, entry.frame.body, entry.frame.client_id));
    status.append(words, retry);
    entry.element.append(status);
  }

  function retryExpired() {
    for (const [clientId, entry] of state.pending) {
      if (entry.expired) { entry.expired = false; submitMessage(entry.frame.subject, entry.frame.body, clientId); }
    }
  }

  const bodyInput = $("body");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = bodyInput.value;
    if (!state.user || !body.trim()) return;
    submitMessage($("subject").value, body);
    bodyInput.value = "";
    $("subject").value = "";
    autoGrow();
  });
  bodyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  function autoGrow() {
    bodyInput.style.height = "auto";
    bodyInput.style.height = `${Math.min(bodyInput.scrollHeight, 160)}px`;
  }
  bodyInput.addEventListener("input", autoGrow);

  // ---- account UI -----------------------------------------------------------------------
  function renderAccount() {
    const user = state.user;
    $("guest-actions").hidden = Boolean(user);
    $("user-menu").hidden = !user;
    $("me-name").textContent = user ? user.name : "";
    bodyInput.disabled = !user;
    $("subject").disabled = !user;
    $("send").disabled = !user;
    bodyInput.placeholder = user ? "Write a message… (Enter sends, Shift+Enter breaks the line)" : "Sign in to send a message";
  }

  function setupDialog(dialogId, formId, submit) {
    const dialog = $(dialogId);
    const form = $(formId);
    dialog.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => dialog.close()));
    dialog.addEventListener("close", () => { form.reset(); clearErrors(form); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        const values = Object.fromEntries(new FormData(form).entries());
        const errors = await submit(values);
        if (errors) showErrors(form, errors);
        else dialog.close();
      } catch (_) {
        showErrors(form, { detail: "Could not reach the server. Check your connection and try again." });
      } finally {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
    return dialog;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error]").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  }

  function showErrors(form, errors) {
    for (const [field, value] of Object.entries(errors || {})) {
      const text = Array.isArray(value) ? value.join(" ") : String(value);
      const slot = form.querySelector(`[data-error="${CSS.escape(field)}"]`) || form.querySelector('[data-error="detail"]');
      slot.textContent = text;
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
      }
    }
    (form.querySelector('[aria-invalid="true"]') || form.querySelector("input")).focus();  // first in page order
  }

  function describeThrottle(status, data) {
    if (status === 429) return { detail: data?.detail || "Too many attempts. Try again later." };
    if (status >= 500) return { detail: "The server is unavailable. Try again shortly." };
    return null;
  }

  const signinDialog = setupDialog("signin-dialog", "signin-form", async (values) => {
    const { status, data } = await api("/api/login", { method: "POST", body: values, auth: false });
    if (status === 200) { signedIn(data); return null; }
    return describeThrottle(status, data) || data || { detail: "Sign-in failed." };
  });

  const registerDialog = setupDialog("register-dialog", "register-form", async (values) => {
    const { status, data } = await api("/api/register", { method: "POST", body: values, auth: false });
    if (status !== 201) return describeThrottle(status, data) || data;
    const login = await api("/api/login", { method: "POST", body: { email: values.email, password: values.password }, auth: false });
    if (login.status === 200) { signedIn(login.data); return null; }
    return { detail: "Registered. Please sign in." };
  });

  const passwordDialog = setupDialog("password-dialog", "password-form", async (values) => {
    let { status, data } = await api("/api/change_password", { method: "POST", body: values });
    if (status === 401 && (await refreshSession())) {
      ({ status, data } = await api("/api/change_password", { method: "POST", body: values }));
    }
    if (status === 200) { signedIn(data); return null; }
    return describeThrottle(status, data) || data;
  });

  $("open-signin").addEventListener("click", () => signinDialog.showModal());
  $("open-register").addEventListener("click", () => registerDialog.showModal());

  const menuButton = $("menu-button");
  const menuList = $("menu-list");
  function setMenu(open) {
    menuList.hidden = !open;
    menuButton.setAttribute("aria-expanded", String(open));
    if (open) menuList.querySelector("button").focus();
  }
  menuButton.addEventListener("click", () => setMenu(menuList.hidden));
  menuList.addEventListener("keydown", (event) => {
    const items = [...menuList.querySelectorAll("button")];
    const index = items.indexOf(document.activeElement);
    if (event.key === "Escape") { setMenu(false); menuButton.focus(); }
    if (event.key === "ArrowDown") { event.preventDefault(); items[(index + 1) % items.length].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); items[(index - 1 + items.length) % items.length].focus(); }
  });
  document.addEventListener("click", (event) => {
    if (!$("user-menu").contains(event.target)) setMenu(false);
  });
  $("open-password").addEventListener("click", () => { setMenu(false); passwordDialog.showModal(); });
  $("logout").addEventListener("click", async () => {
    setMenu(false);
    await api("/api/logout", { method: "POST", auth: false });
    signedOut();
    // the socket carries on as a guest: a fresh connection counts it as anonymous
    if (state.ws) state.ws.close();
  });

  // ---- scrolling ----------------------------------------------------------------------
  timeline.addEventListener("scroll", () => {
    if (nearBottom()) $("new-pill").hidden = true;
    maybeLoadOlder();
  });
  $("new-pill").addEventListener("click", scrollToBottom);
  window.addEventListener("online", () => { if (!state.wsOpen) connect(); });

  // ---- start --------------------------------------------------------------------------
  renderAccount();
  (async () => {
    // The refresh cookie is HttpOnly; the "signed_in" hint says whether asking is worth it.
    if (document.cookie.split("; ").includes("signed_in=1")) await refreshSession();
    await loadNewest();
    connect();
  })();
})();
