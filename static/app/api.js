// HTTP: the contract's endpoints, with the access token in memory and one refresh at a time.
import { emit, state } from "./state.js";

export async function api(path, { method = "GET", body, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && state.access) headers.Authorization = `Bearer ${state.access}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_) {
    return { status: 0, data: null }; // offline or the server away: callers treat it as a failure
  }
  let data = null;
  try { data = await response.json(); } catch (_) { /* 204 or not JSON */ }
  return { status: response.status, data };
}

// An authenticated call that refreshes the session once on 401.
export async function authed(path, options = {}) {
  let answer = await api(path, options);
  if (answer.status === 401 && (await refreshSession())) answer = await api(path, options);
  return answer;
}

export function signedIn(session) {
  state.access = session.access;
  state.user = session.user;
  emit("session", state.user);
}

export function signedOut() {
  state.access = null;
  state.user = null;
  emit("session", null);
}

let refreshing = null;
export function refreshSession() {
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
