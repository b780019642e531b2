// The console: logging in with a key, the sections, and the page of each route (#/automations, #/runs/<id>...).

import { explain, forget, keep, SCOPES, scopesOf, storedKey } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { automationPage, automationsPage, newAutomationPage } from "./automations.js";
import { contactPage, contactsPage } from "./contacts.js";
import { runPage, runsPage } from "./runs.js";
import { settingsPage, tasksPage, templatesPage } from "./more.js";

const main = document.getElementById("main");
const session = { scopes: new Set() };
let current = 0;

/** What a page gets: where it draws, the route's parts, and what the key may do. */
function context(params, query) {
  const token = ++current;
  return {
    main,
    params,
    query,
    alive: () => token === current,
    can: (scope) => session.scopes.has(scope),
    scopes: session.scopes,
    // A control the key may not use: disabled, with the reason as its title.
    guard(element, scope) {
      if (!session.scopes.has(scope)) {
        element.disabled = true;
        element.title = `This key lacks the scope “${scope}” (needed to ${SCOPES[scope]})`;
        element.classList.add("not-allowed");
      }
      return element;
    },
  };
}

const ROUTES = [
  [/^automations\/?$/, automationsPage, "automations"],
  [/^automations\/new$/, newAutomationPage, "automations"],
  [/^automations\/([^/]+)(?:\/([a-z]+))?$/, automationPage, "automations"],
  [/^runs\/?$/, runsPage, "runs"],
  [/^runs\/([^/]+)$/, runPage, "runs"],
  [/^contacts\/?$/, contactsPage, "contacts"],
  [/^contacts\/([^/]+)$/, contactPage, "contacts"],
  [/^tasks\/?$/, tasksPage, "tasks"],
  [/^templates\/?$/, templatesPage, "templates"],
  [/^settings\/?$/, settingsPage, "settings"],
];

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [where, search = ""] = hash.split("?");
  return { where, query: Object.fromEntries(new URLSearchParams(search)) };
}

async function show() {
  if (!storedKey()) return loginPage();
  const { where, query } = parseHash();
  if (!where) {
    location.replace(session.scopes.has("automations:read") || !session.scopes.has("contacts:read") ? "#/automations" : "#/contacts");
    return;
  }
  const found = ROUTES.find(([pattern]) => pattern.test(where));
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("current", !!found && link.dataset.section === found[2]);
    if (found && link.dataset.section === found[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    clear(main, h("h1", null, "Not found"), h("p", null, "The console has no such page. ", h("a", { href: "#/automations" }, "Go to the automations.")));
    return;
  }
  const params = found[0].exec(where).slice(1).map((part) => (part === undefined ? undefined : decodeURIComponent(part)));
  const ctx = context(params, query);
  clear(main);
  window.scrollTo(0, 0);
  try {
    await found[1](ctx);
  } catch (error) {
    if (!ctx.alive()) return;
    clear(main, h("h1", null, "Something went wrong"), h("p", { class: "error", role: "alert" }, explain(error)));
  }
}

// --- the key ----------------------------------------------------------------------------------------------------

function describeScopes() {
  const held = [...session.scopes].filter((scope) => scope !== "events:write" || session.scopes.has("admin"));
  const label = session.scopes.has("admin") ? "admin key" : held.join(", ") || "no scope";
  const box = document.getElementById("scopes");
  clear(box, label);
  box.title = session.scopes.has("admin")
    ? "This key may do everything in its workspace."
    : `This key may: ${[...session.scopes].map((s) => SCOPES[s]).join("; ")}.`;
  for (const link of document.querySelectorAll("#nav a[data-scope]")) link.hidden = !session.scopes.has(link.dataset.scope);
}

function setShell(loggedIn) {
  document.getElementById("nav").hidden = !loggedIn;
  document.getElementById("session").hidden = !loggedIn;
}

function loginPage(message) {
  setShell(false);
  current += 1;
  const input = h("input", {
    id: "api-key",
    name: "key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "ak_… or local-dev-key",
  });
  const status = h("p", { class: message ? "error" : "hint", role: "alert" }, message || "");
  const submit = h("button", { type: "submit", class: "button primary" }, "Log in");
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to the console"),
    h(
      "p",
      null,
      "Enter an API key of your workspace. The key stays in this browser tab only (session storage) and is sent to the API in the x-api-key header; what the console shows depends on the key's scopes.",
    ),
    h("label", { class: "field", for: "api-key" }, h("span", null, "API key"), input),
    status,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    submit.disabled = true;
    clear(status, "Checking the key…");
    status.className = "hint";
    try {
      const scopes = await scopesOf(key);
      if (!scopes.has("automations:read") && !scopes.has("contacts:read")) {
        throw new Error(
          "This key is valid but may read nothing the console shows: it needs automations:read or contacts:read (an events-only key is for apps).",
        );
      }
      keep(key);
      session.scopes = scopes;
      setShell(true);
      describeScopes();
      show();
    } catch (error) {
      clear(status, explain(error));
      status.className = "error";
      submit.disabled = false;
    }
  });
  clear(main, form);
  input.focus();
}

async function start() {
  document.getElementById("logout").addEventListener("click", () => {
    forget();
    session.scopes = new Set();
    loginPage();
    toast("Logged out: the key is forgotten by this tab.");
  });
  window.addEventListener("console:unauthorized", () => {
    forget();
    loginPage("The API no longer accepts this key (revoked or unknown). Log in again.");
  });
  window.addEventListener("hashchange", () => {
    if (storedKey()) show();
  });
  const key = storedKey();
  if (!key) return loginPage();
  try {
    session.scopes = await scopesOf(key);
  } catch (error) {
    forget();
    return loginPage(explain(error));
  }
  setShell(true);
  describeScopes();
  show();
}

start();
