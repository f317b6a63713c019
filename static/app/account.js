// Sign-in, registration, password change, the account menu.
import { api, refreshSession, signedIn, signedOut } from "./api.js";
import { $, emit, on, state } from "./state.js";

export function setupDialog(dialogId, formId, submit) {
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
    form.querySelector(`[name="${CSS.escape(field)}"]`)?.setAttribute("aria-invalid", "true");
  }
  (form.querySelector('[aria-invalid="true"]') || form.querySelector("input")).focus();
}

export function describeThrottle(status, data) {
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
  const items = [...menuList.querySelectorAll("button:not([hidden])")];
  const index = items.indexOf(document.activeElement);
  if (event.key === "Escape") { setMenu(false); menuButton.focus(); }
  if (event.key === "ArrowDown") { event.preventDefault(); items[(index + 1) % items.length].focus(); }
  if (event.key === "ArrowUp") { event.preventDefault(); items[(index - 1 + items.length) % items.length].focus(); }
});
document.addEventListener("click", (event) => {
  if (!$("user-menu").contains(event.target)) setMenu(false);
});
$("open-password").addEventListener("click", () => { setMenu(false); passwordDialog.showModal(); });
$("enable-notifications").addEventListener("click", async () => {
  setMenu(false);
  if ("Notification" in window) await Notification.requestPermission();
  renderAccount();
});
$("logout").addEventListener("click", async () => {
  setMenu(false);
  await api("/api/logout", { method: "POST", auth: false });
  signedOut();
  emit("logged-out");
});

export function renderAccount() {
  const user = state.user;
  $("guest-actions").hidden = Boolean(user);
  $("user-menu").hidden = !user;
  $("me-name").textContent = user ? user.name : "";
  $("enable-notifications").hidden = !("Notification" in window) || Notification.permission !== "default";
}
on("session", renderAccount);
