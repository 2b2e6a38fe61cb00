// The shell: login, navigation, the virtual host and refresh choices, and hash routing
// (#/queues/%2F/orders) to one screen module per page.
import { forgetCredentials, get, saveCredentials, savedUser, vhostNames } from "./api.js";
import { h, replace } from "./dom.js";
import * as admin from "./admin.js";
import * as channels from "./channels.js";
import * as connections from "./connections.js";
import * as exchange from "./exchange.js";
import * as exchanges from "./exchanges.js";
import * as overview from "./overview.js";
import * as queue from "./queue.js";
import * as queues from "./queues.js";
import * as users from "./users.js";
import * as vhosts from "./vhosts.js";

// "*" matches one path segment, handed to the screen decoded.
const ROUTES = [
  ["", overview.render],
  ["connections", connections.list],
  ["connections/*", connections.page],
  ["channels", channels.list],
  ["channels/*", channels.page],
  ["exchanges", exchanges.list],
  ["exchanges/*/*", exchange.page],
  ["queues", queues.list],
  ["queues/*/*", queue.page],
  ["admin", users.list],
  ["admin/users", users.list],
  ["admin/users/*", users.page],
  ["admin/vhosts", vhosts.list],
  ["admin/vhosts/*", vhosts.page],
  ["admin/limits", admin.limits],
];

const VHOST = "leveret.vhost";
const REFRESH = "leveret.refresh";
const main = document.getElementById("main");
const header = document.querySelector("header.top");
const vhostSelect = document.getElementById("vhost");
const refreshSelect = document.getElementById("refresh");

let me = null; // /api/whoami
let pollers = [];
let timer = null;
let generation = 0;

function refreshInterval() {
  return Number(sessionStorage.getItem(REFRESH) ?? 5000);
}

function restartTimer() {
  clearInterval(timer);
  const every = refreshInterval();
  if (every > 0) {
    // Hidden tabs do not poll: an idle UI costs the broker nothing.
    timer = setInterval(() => document.hidden || pollers.forEach((poll) => poll()), every);
  }
}

async function loadVhosts() {
  const chosen = sessionStorage.getItem(VHOST) || "";
  const names = await vhostNames();
  replace(
    vhostSelect,
    h("option", { value: "" }, "All"),
    names.map((name) => h("option", { value: name, selected: name === chosen }, name)),
  );
  if (!names.includes(chosen)) sessionStorage.removeItem(VHOST);
  return names;
}

function match(path) {
  const parts = path ? path.split("/").map(decodeURIComponent) : [];
  for (const [pattern, screen] of ROUTES) {
    const want = pattern ? pattern.split("/") : [];
    if (want.length !== parts.length) continue;
    if (want.every((w, i) => w === "*" || w === parts[i])) {
      return [screen, parts.filter((_, i) => want[i] === "*")];
    }
  }
  return [null, []];
}

function route() {
  if (!me) return;
  const path = location.hash.replace(/^#\/?/, "").replace(/\/$/, "");
  const [screen, params] = match(path);
  generation += 1;
  const mine = generation;
  pollers = [];
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").slice(2);
    const current = target ? path === target || path.startsWith(target + "/") : path === "";
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const stale = h("p", { class: "stale", role: "status", hidden: true });
  main.replaceChildren(stale);
  delete main.dataset.ready; // set once the screen has drawn (tests and screenshots wait on it)
  const ctx = {
    main,
    me,
    vhost: sessionStorage.getItem(VHOST) || "",
    // Called on each refresh tick while this screen is shown.
    // A failed refresh (the object was deleted meanwhile, the broker restarts) says so
    // above the screen and keeps polling; the next success clears it.
    every(poll) {
      pollers.push(async () => {
        if (mine !== generation) return;
        try {
          await poll();
          if (mine === generation) stale.hidden = true;
        } catch (failure) {
          if (mine !== generation) return;
          stale.textContent = `Could not refresh: ${failure.message}`;
          stale.hidden = false;
        }
      });
    },
    heading(text, ...extra) {
      document.title = `${text} · Leveret`;
      main.append(h("div", { class: "heading" }, h("h1", { tabindex: "-1" }, text), extra));
    },
    reloadVhosts: loadVhosts,
    current: () => mine === generation,
  };
  if (!screen) {
    ctx.heading("Not found");
    main.append(h("p", {}, "No such page. ", h("a", { href: "#/" }, "Back to the overview.")));
  } else {
    Promise.resolve(screen(ctx, ...params))
      .catch((failure) => {
        if (mine === generation)
          main.append(h("p", { class: "form-error", role: "alert" }, failure.message));
      })
      .finally(() => {
        if (mine === generation) main.dataset.ready = "true";
      });
  }
  main.querySelector("h1")?.focus({ preventScroll: true });
}

function showLogin(message) {
  me = null;
  clearInterval(timer);
  header.hidden = true;
  main.replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  document.title = "Log in · Leveret";
  document.querySelector("#login-form [name=username]").focus();
}

async function start() {
  try {
    me = await get("whoami");
  } catch (failure) {
    const tried = savedUser();
    forgetCredentials();
    showLogin(tried ? `${failure.message}.` : "");
    return false;
  }
  document.getElementById("login").hidden = true;
  header.hidden = false;
  document.getElementById("whoami").textContent = me.name;
  const tags = new Set(me.tags);
  for (const a of document.querySelectorAll("#nav a[data-tag]"))
    a.hidden = !tags.has(a.dataset.tag);
  refreshSelect.value = String(refreshInterval());
  await loadVhosts();
  restartTimer();
  route();
  return true;
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  saveCredentials(form.username.value, form.password.value);
  form.password.value = "";
  await start();
});

document.getElementById("logout").addEventListener("click", () => {
  forgetCredentials();
  showLogin("Logged out.");
});

vhostSelect.addEventListener("change", () => {
  sessionStorage.setItem(VHOST, vhostSelect.value);
  route();
});

refreshSelect.addEventListener("change", () => {
  sessionStorage.setItem(REFRESH, refreshSelect.value);
  restartTimer();
});

window.addEventListener("hashchange", route);
window.addEventListener("leveret:logged-out", (event) => {
  if (me) {
    forgetCredentials();
    showLogin(`Logged out: ${event.detail}.`);
  }
});

if (savedUser()) start();
else showLogin();
