// The console's shell: sign-in, the role, navigation between screens (the
// screen and its filter live in the URL's hash, so a view can be shared),
// the theme, and the last resort for errors nobody else showed.

import { ApiError, get, setToken, token } from "./api.js";
import { errorBox, fill, h } from "./dom.js";
import * as overview from "./overview.js";
import * as events from "./events.js";
import * as journey from "./journey.js";
import * as dead from "./dead.js";
import * as playground from "./playground.js";
import * as config from "./config.js";
import * as audit from "./audit.js";

const SCREENS = [
  ["overview", "Overview", overview],
  ["events", "Events", events],
  ["dead", "Dead letters", dead],
  ["playground", "Playground", playground],
  ["config", "Config", config],
  ["audit", "Audit", audit],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let ctx = null;
let cleanup = null;

/** The screen and its parameters from `#/name/rest?query`. */
function location_() {
  const hash = location.hash.replace(/^#\/?/, "");
  const q = hash.indexOf("?");
  const path = q < 0 ? hash : hash.slice(0, q);
  const [name, ...rest] = path.split("/");
  return { name: name || "overview", rest: rest.map(decodeURIComponent), params: new URLSearchParams(q < 0 ? "" : hash.slice(q + 1)) };
}

async function show() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!ctx) return;
  const where = location_();
  const screen = where.name === "event" ? journey : (SCREENS.find(([n]) => n === where.name) || SCREENS[0])[2];
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.screen === (where.name === "event" ? "events" : where.name)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // Each showing draws into its own element: one still loading when the
  // next starts draws into a detached element, never into the new screen.
  const view = h("div", { "data-screen": where.name });
  fill(main, view);
  const scope = new AbortController();
  cleanup = () => scope.abort();
  try {
    await screen.render(view, { ...where, signal: scope.signal }, ctx);
    // Keyboard and screen-reader users start at the new screen.
    if (view.isConnected && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signOut("The token is no longer accepted; sign in again.");
    view.append(errorBox(e));
  }
}

function drawNav() {
  fill(
    nav,
    SCREENS.map(([name, label]) => h("a", { href: `#/${name}`, "data-test": `nav-${name}`, "data-screen": name }, label)),
  );
  nav.hidden = false;
  fill(document.getElementById("who"), ctx.who.name, " · ", h("span", { class: `badge role-${ctx.who.role}`, "data-test": "role" }, ctx.who.role));
  document.getElementById("signout").hidden = !token();
}

/** Asks the API who the token is; signs in on success. */
async function signIn() {
  const who = await get("/api/whoami");
  ctx = { who, operate: who.role === "operate" };
  drawNav();
  await show();
}

function signOut(message, kind = "error") {
  setToken(null);
  ctx = null;
  if (cleanup) cleanup();
  nav.hidden = true;
  fill(document.getElementById("who"));
  document.getElementById("signout").hidden = true;
  signInForm(message, kind);
}

function signInForm(message, kind = "error") {
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    "data-test": "signin-token",
    "aria-describedby": "signin-help",
  });
  const error = h("div", { "data-test": "signin-error", role: "alert", class: message ? kind : "" }, message || "");
  const form = h(
    "form",
    { class: "card signin", "data-test": "signin-form" },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Admin token"),
    input,
    h("p", { id: "signin-help", class: "muted" }, "One of server.admin_tokens. It stays in this tab only (sessionStorage) and is sent as a bearer header. A relay without admin tokens (loopback only) takes an empty one."),
    error,
    h("button", { type: "submit", class: "primary", "data-test": "signin-submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim() || null);
    try {
      await signIn();
    } catch (e) {
      setToken(null);
      error.className = "error";
      error.textContent =
        e.status === 401
          ? input.value.trim()
            ? "That token was refused: it is not one of server.admin_tokens."
            : "This relay needs an admin token."
          : `${e.status || ""} ${e.message}`;
      input.select();
    }
  });
  fill(main, form);
  input.focus();
}

function theme() {
  const button = document.getElementById("theme");
  const dark = () => {
    const set = document.documentElement.dataset.theme;
    return set ? set === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  };
  const label = () => {
    button.textContent = dark() ? "Light" : "Dark";
  };
  const saved = localStorage.getItem("switchboard.theme");
  if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
  label();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", label);
  button.addEventListener("click", () => {
    const next = dark() ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("switchboard.theme", next);
    label();
  });
}

function toast(e) {
  const box = errorBox(e, "global-error");
  const close = h("button", { type: "button", class: "link", "aria-label": "Dismiss" }, "×");
  close.addEventListener("click", () => box.remove());
  box.append(close);
  document.getElementById("toasts").append(box);
}

window.addEventListener("unhandledrejection", (ev) => toast(ev.reason));
window.addEventListener("hashchange", show);
document.getElementById("signout").addEventListener("click", () => signOut("Signed out: the token is forgotten in this tab.", "note"));
theme();
// A stored token is tried; without one the form is shown (not a probe
// without a token, whose 401 would be an error in the browser's console).
if (token()) {
  signIn().catch((e) => {
    if (e instanceof ApiError && e.status === 401) {
      setToken(null);
      signInForm("The stored token was refused; sign in again.");
    } else {
      signInForm(`${e.status || ""} ${e.message}`);
    }
  });
} else {
  signInForm("");
}
