// Tasks (made by automations, marked done here), suggested templates (one click to a draft), and the
// workspace's settings for admin keys: its keys and its webhook signing secret.

import { del, explain, get, patch, path, post } from "./api.js";
import { action, ask, badge, chip, clear, empty, facts, h, loading, route, timeTag, toast } from "./dom.js";

// --- tasks ------------------------------------------------------------------------------------------------------

export async function tasksPage(ctx) {
  const { main, query } = ctx;
  const status = h(
    "select",
    { name: "status", "aria-label": "Status" },
    [["open", "Open"], ["done", "Done"], ["", "Every status"]].map(([value, label]) => h("option", { value, selected: (query.status ?? "open") === value }, label)),
  );
  const assignee = h("input", { type: "search", name: "assignee", placeholder: "Assignee", "aria-label": "Assignee", value: query.assignee || "" });
  const form = h("form", { class: "toolbar filters", role: "search" }, status, assignee, h("button", { type: "submit", class: "button" }, "Filter"));
  const body = h("div", null, loading());
  clear(main, h("div", { class: "page-head" }, h("h1", null, "Tasks")), form, body);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("tasks", { status: status.value || "all", assignee: assignee.value.trim() });
  });
  if (!ctx.can("contacts:read")) {
    clear(body, h("p", { class: "notice" }, "This key lacks the scope “contacts:read”: it may not read tasks."));
    return;
  }
  const wanted = query.status === "all" ? "" : query.status ?? "open";
  const list = h("ul", { class: "task-list" });
  const more = h("div");
  let cursor = null;
  const item = (task) => {
    const done = task.status === "done";
    const toggle = action(done ? "Reopen" : "Mark done", async () => {
      try {
        const changed = await patch(path`/v1/tasks/${task.id}`, { status: done ? "open" : "done" });
        toast(changed.status === "done" ? `Done: ${task.title}` : `Reopened: ${task.title}`);
        li.replaceWith(item(changed));
      } catch (error) {
        toast(explain(error), "error");
      }
    }, { class: done ? "button small" : "button small primary" });
    ctx.guard(toggle, "contacts:write");
    const li = h(
      "li",
      { class: `card task${done ? " done" : ""}`, dataset: { task: task.id } },
      h("div", { class: "task-head" }, h("strong", null, task.title), " ", badge(task.status), h("span", { class: "spacer" }), toggle),
      task.description ? h("p", null, task.description) : null,
      h(
        "p",
        { class: "meta" },
        task.assignee ? ["for ", h("strong", null, task.assignee), " · "] : null,
        task.due_at ? ["due ", timeTag(task.due_at), " · "] : null,
        task.person ? ["about ", h("a", { href: route("contacts", task.person) }, task.person), " · "] : null,
        task.automation_id ? ["by ", h("a", { href: route("automations", task.automation_id) }, task.automation_id), " · "] : null,
        task.run_id ? [h("a", { href: route("runs", task.run_id) }, "its run"), " · "] : null,
        "created ",
        timeTag(task.created_at),
      ),
    );
    return li;
  };
  const page = async () => {
    const answer = await get("/v1/tasks", { status: wanted, assignee: query.assignee, limit: 50, cursor });
    if (!ctx.alive()) return 0;
    list.append(...answer.tasks.map(item));
    cursor = answer.next_cursor;
    clear(more, cursor ? action("More", page) : null);
    return answer.tasks.length;
  };
  try {
    clear(body, list, more);
    if (!(await page()) && ctx.alive()) clear(body, empty(wanted === "open" ? "No open task." : "No task."));
  } catch (error) {
    if (ctx.alive()) clear(body, h("p", { class: "error" }, explain(error)));
  }
}

// --- templates ----------------------------------------------------------------------------------------------------

function steps(count) {
  return count === 1 ? "1 step" : `${count} steps`;
}

async function createFrom(template) {
  const attempt = (body) => post("/v1/automations", body);
  try {
    const created = await attempt({ template: template.id });
    toast(`Draft “${created.name}” created.`);
    location.hash = route("automations", created.id, "definition");
  } catch (error) {
    if (error.status !== 409) return toast(explain(error), "error");
    const given = await ask({
      title: "An automation with this id exists",
      message: `“${template.id}” is taken in this workspace: give the draft another id.`,
      confirm: "Create draft",
      fields: [
        { name: "id", label: "Id", value: `${template.id}-2`, required: true },
        { name: "name", label: "Name", value: template.name, required: true },
      ],
    });
    if (!given) return;
    try {
      const created = await attempt({ template: template.id, id: given.id, name: given.name });
      toast(`Draft “${created.name}” created.`);
      location.hash = route("automations", created.id, "definition");
    } catch (again) {
      toast(explain(again), "error");
    }
  }
}

export async function templatesPage(ctx) {
  const { main, query } = ctx;
  const search = h("input", { type: "search", placeholder: "Search templates", "aria-label": "Search templates", value: query.q || "" });
  const category = h("select", { "aria-label": "Category" }, h("option", { value: "" }, "Every category"));
  const body = h("div", null, loading());
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", null, "Suggested templates")),
    h("p", { class: "hint" }, "Automations for common scenarios, ready to use: create a draft from one, adjust it, then activate it."),
    h("div", { class: "toolbar" }, search, category),
    body,
  );
  if (!ctx.can("automations:read")) {
    clear(body, h("p", { class: "notice" }, "This key lacks the scope “automations:read”: it may not read templates."));
    return;
  }
  let templates;
  try {
    templates = (await get("/v1/templates")).templates;
  } catch (error) {
    if (ctx.alive()) clear(body, h("p", { class: "error" }, explain(error)));
    return;
  }
  if (!ctx.alive()) return;
  for (const c of [...new Set(templates.map((t) => t.category))].sort()) category.append(h("option", { value: c, selected: c === query.category }, c));
  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = templates.filter((t) => {
      const text = [t.title, t.description, t.category, t.trigger, t.name, t.id].join(" ").toLowerCase();
      return (!category.value || t.category === category.value) && words.every((w) => text.includes(w));
    });
    clear(
      body,
      shown.length
        ? h(
            "ul",
            { class: "template-grid" },
            shown.map((t) => {
              const create = action("Create draft", () => createFrom(t), { class: "button primary" });
              ctx.guard(create, "automations:write");
              return h(
                "li",
                { class: "card template", dataset: { template: t.id } },
                h("p", { class: "sub" }, t.category),
                h("h2", null, t.title),
                h("p", null, t.description),
                h("p", { class: "meta" }, "when ", h("code", null, t.trigger), " · ", steps((t.definition?.steps || []).length)),
                h("div", { class: "card-actions" }, create),
              );
            }),
          )
        : empty("No template matches."),
    );
  };
  search.addEventListener("input", draw);
  category.addEventListener("change", draw);
  draw();
}

// --- settings (admin) -----------------------------------------------------------------------------------------------

const SCOPE_NAMES = ["events:write", "automations:read", "automations:write", "contacts:read", "contacts:write", "admin"];

export async function settingsPage(ctx) {
  const { main } = ctx;
  const keysBox = h("div", null, loading());
  const secretBox = h("div");
  clear(main, h("div", { class: "page-head" }, h("h1", null, "Settings")), h("h2", null, "Keys"), keysBox, h("h2", null, "Webhook signing secret"), secretBox);
  if (!ctx.can("admin")) {
    clear(keysBox, h("p", { class: "notice" }, "This key lacks the scope “admin”: only an admin key manages keys and the webhook secret."));
    return;
  }
  const drawKeys = async () => {
    let keys;
    try {
      keys = (await get("/v1/keys")).keys;
    } catch (error) {
      clear(keysBox, h("p", { class: "error" }, explain(error)));
      return;
    }
    if (!ctx.alive()) return;
    const create = action("Create a key", async () => {
      const given = await ask({
        title: "Create a key",
        message: `Scopes, comma-separated: ${SCOPE_NAMES.join(", ")}.`,
        confirm: "Create",
        fields: [
          { name: "name", label: "What it is for", required: true, placeholder: "shop backend" },
          { name: "scopes", label: "Scopes", value: "events:write", required: true },
        ],
      });
      if (!given) return;
      try {
        const made = await post("/v1/keys", { name: given.name, scopes: given.scopes.split(",").map((s) => s.trim()).filter(Boolean) });
        await ask({
          title: "The new key",
          message: h("div", null, h("p", null, "Copy it now: it is shown this once, never again."), h("pre", { class: "code secret" }, made.secret)),
          confirm: "I have copied it",
        });
        drawKeys();
      } catch (error) {
        toast(explain(error), "error");
      }
    }, { class: "button primary" });
    clear(
      keysBox,
      h("div", { class: "toolbar" }, create),
      h(
        "table",
        { class: "table responsive" },
        h("thead", null, h("tr", null, ["Name", "Id", "Scopes", "Created", "Last used", ""].map((l) => h("th", null, l)))),
        h(
          "tbody",
          null,
          keys.map((k) =>
            h(
              "tr",
              { class: k.revoked_at ? "revoked" : null },
              h("td", { "data-label": "Name" }, k.name, k.revoked_at ? [" ", badge("revoked")] : null),
              h("td", { "data-label": "Id" }, h("code", null, k.id)),
              h("td", { "data-label": "Scopes" }, k.scopes.map((s) => chip(s))),
              h("td", { "data-label": "Created" }, timeTag(k.created_at)),
              h("td", { "data-label": "Last used" }, timeTag(k.last_used_at)),
              h(
                "td",
                { class: "actions", "data-label": "" },
                k.revoked_at
                  ? null
                  : action("Revoke", async () => {
                      const ok = await ask({
                        title: `Revoke the key “${k.name}”?`,
                        message: "Apps using it are refused from now on (within 5 minutes on AWS). This cannot be undone.",
                        confirm: "Revoke",
                        danger: true,
                      });
                      if (!ok) return;
                      try {
                        await del(path`/v1/keys/${k.id}`);
                        toast(`Key “${k.name}” revoked.`);
                        drawKeys();
                      } catch (error) {
                        toast(explain(error), "error");
                      }
                    }, { class: "button small danger" }),
              ),
            ),
          ),
        ),
      ),
    );
  };
  const showSecret = (secret) =>
    clear(
      secretBox,
      facts([
        ["Secret", h("code", { class: "secret" }, secret.secret)],
        ["Created", timeTag(secret.created_at)],
        ["Scheme", secret.scheme],
        secret.previous ? ["Previous (still signing)", h("code", { class: "secret" }, secret.previous)] : null,
        secret.rotation_ends_at ? ["Previous stops signing", timeTag(secret.rotation_ends_at)] : null,
      ]),
      h(
        "div",
        { class: "toolbar" },
        action("Rotate", async () => {
          const ok = await ask({
            title: "Rotate the webhook secret?",
            message: "A new secret signs webhooks from now on; the current one keeps signing beside it for 24 hours. Give the new one to every receiver within that time.",
            confirm: "Rotate",
            danger: true,
          });
          if (!ok) return;
          try {
            showSecret(await post("/v1/webhook-secret/rotate"));
            toast("Rotation started.");
          } catch (error) {
            toast(explain(error), "error");
          }
        }, { class: "button danger" }),
      ),
    );
  clear(
    secretBox,
    h("p", null, "Webhook steps are signed with this secret (Standard Webhooks); receivers verify them with it."),
    action("Show the secret", async () => {
      try {
        showSecret(await get("/v1/webhook-secret"));
      } catch (error) {
        toast(explain(error), "error");
      }
    }),
  );
  await drawKeys();
}
