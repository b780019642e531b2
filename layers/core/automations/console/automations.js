// The automations: the list (status, trigger, runs, sent, open and click rates, on/off), and one automation
// (its flow, definition editor, versions, previews and test emails, statistics).

import { del, explain, get, patch, path, post, put } from "./api.js";
import { dailyChart, funnel } from "./charts.js";
import { action, ask, badge, clear, empty, facts, h, loading, num, pct, pretty, route, timeTag, toast } from "./dom.js";
import { delayText, flowDiagram } from "./flow.js";
import { diffLines, hunks, lineOf, looksLikeJson, toJson, toYaml } from "./text.js";

// --- shared -------------------------------------------------------------------------------------------------------

const PERIODS = [
  ["7", "Last 7 days"],
  ["30", "Last 30 days"],
  ["90", "Last 90 days"],
  ["all", "All time"],
];

/** The stats route's query for a period: the first day (UTC) of the last N days, none for all time. */
function periodQuery(period) {
  if (!period || period === "all") return {};
  const first = new Date(Date.now() - (Number(period) - 1) * 86400000);
  return { from: first.toISOString().slice(0, 10) };
}

function periodSelect(ctx, tab) {
  const current = ctx.query.period || "30";
  const select = h(
    "select",
    { "aria-label": "Period", class: "period" },
    PERIODS.map(([value, label]) => h("option", { value, selected: value === current }, label)),
  );
  select.addEventListener("change", () => {
    location.hash = route("automations", ctx.params[0], tab, { period: select.value });
  });
  return h("label", { class: "inline-field" }, h("span", null, "Period"), select);
}

function problem(error) {
  return h("p", { class: "error", role: "alert" }, explain(error));
}

async function toggleStatus(ctx, automation, on) {
  const id = automation.id;
  if (!on) {
    const ok = await ask({
      title: `Deactivate “${automation.name}”?`,
      message: "It stops matching new events, and every run waiting in it ends now (with that reason).",
      confirm: "Deactivate",
      danger: true,
    });
    if (!ok) return null;
  }
  try {
    const done = await post(path`/v1/automations/${id}/${on ? "activate" : "deactivate"}`);
    toast(on ? `“${automation.name}” is active.` : `“${automation.name}” is inactive.`);
    return done;
  } catch (error) {
    toast(explain(error), "error");
    return null;
  }
}

function statusSwitch(ctx, automation, onChange) {
  const input = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: automation.status === "active",
    "aria-label": `${automation.name}: active`,
  });
  ctx.guard(input, "automations:write");
  const text = h("span", { class: "switch-text" }, automation.status === "active" ? "On" : "Off");
  input.addEventListener("change", async () => {
    const wanted = input.checked;
    input.disabled = true;
    const done = await toggleStatus(ctx, automation, wanted);
    input.disabled = false;
    if (!done) input.checked = !wanted;
    else {
      automation.status = done.status;
      input.checked = done.status === "active";
      text.textContent = input.checked ? "On" : "Off";
      if (onChange) onChange(done);
    }
  });
  return h("label", { class: "switch-label" }, input, text);
}

async function duplicate(automation) {
  const given = await ask({
    title: `Duplicate “${automation.name}”`,
    message: "The copy is a draft with a new id.",
    confirm: "Duplicate",
    fields: [
      { name: "name", label: "Name", value: `Copy of ${automation.name}` },
      { name: "id", label: "Id (optional)", value: "", placeholder: `${automation.id}-copy` },
    ],
  });
  if (!given) return;
  try {
    const body = { name: given.name };
    if (given.id) body.id = given.id;
    const copy = await post(path`/v1/automations/${automation.id}/duplicate`, body);
    toast(`Duplicated as “${copy.name}”.`);
    location.hash = route("automations", copy.id);
  } catch (error) {
    toast(explain(error), "error");
  }
}

async function rename(automation, done) {
  const given = await ask({
    title: "Rename",
    confirm: "Rename",
    fields: [{ name: "name", label: "Name", value: automation.name, required: true }],
  });
  if (!given) return;
  try {
    const renamed = await patch(path`/v1/automations/${automation.id}`, { name: given.name });
    toast(`Renamed to “${renamed.name}”.`);
    done(renamed);
  } catch (error) {
    toast(explain(error), "error");
  }
}

async function remove(automation) {
  const ok = await ask({
    title: `Delete “${automation.name}”?`,
    message: "The automation and its versions are deleted; runs waiting in it end now. This cannot be undone.",
    confirm: "Delete",
    danger: true,
  });
  if (!ok) return false;
  try {
    const gone = await del(path`/v1/automations/${automation.id}`);
    toast(`Deleted “${automation.name}”${gone.runs_ended ? ` (${gone.runs_ended} waiting runs ended)` : ""}.`);
    return true;
  } catch (error) {
    toast(explain(error), "error");
    return false;
  }
}

function actionsMenu(ctx, automation, { onRenamed, onDeleted }) {
  const item = (label, run, danger) =>
    ctx.guard(
      h("button", { type: "button", class: danger ? "menu-item danger" : "menu-item", onclick: (e) => {
        e.target.closest("details").open = false;
        run();
      } }, label),
      "automations:write",
    );
  return h(
    "details",
    { class: "menu" },
    h("summary", { class: "button small", "aria-label": `Actions for ${automation.name}` }, "Actions ▾"),
    h(
      "div",
      { class: "menu-items" },
      item("Duplicate", () => duplicate(automation)),
      item("Rename", () => rename(automation, onRenamed)),
      item("Delete", async () => {
        if (await remove(automation)) onDeleted();
      }, true),
    ),
  );
}

// --- the list -------------------------------------------------------------------------------------------------------

export async function automationsPage(ctx) {
  const { main } = ctx;
  const search = h("input", { type: "search", placeholder: "Search by name, id or trigger", "aria-label": "Search automations", value: ctx.query.q || "" });
  const status = h(
    "select",
    { "aria-label": "Status" },
    [["", "Every status"], ["active", "Active"], ["draft", "Draft"], ["inactive", "Inactive"]].map(([value, label]) =>
      h("option", { value, selected: (ctx.query.status || "") === value }, label),
    ),
  );
  const create = ctx.can("automations:write")
    ? h("a", { class: "button primary", href: "#/automations/new" }, "New automation")
    : ctx.guard(h("button", { type: "button", class: "button primary" }, "New automation"), "automations:write");
  const body = h("div", null, loading());
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", null, "Automations"), h("div", { class: "head-actions" }, h("a", { class: "button", href: "#/templates" }, "New from a template"), create)),
    h("div", { class: "toolbar" }, search, status),
    body,
  );
  if (!ctx.can("automations:read")) {
    clear(body, h("p", { class: "notice" }, "This key lacks the scope “automations:read”: it may not list automations."));
    return;
  }
  let list;
  try {
    list = (await get("/v1/automations")).automations;
  } catch (error) {
    if (ctx.alive()) clear(body, problem(error));
    return;
  }
  if (!ctx.alive()) return;
  const stats = new Map();
  const rows = new Map();

  const cells = (a) => {
    const figures = stats.get(a.id);
    const value = (f) => (figures === undefined ? h("span", { class: "muted" }, "…") : figures === null ? "—" : f(figures));
    return {
      runs: value((s) => num(s.totals.runs_started)),
      sent: value((s) => num(s.totals.sent)),
      open: value((s) => pct(s.totals.rates.open_rate)),
      click: value((s) => pct(s.totals.rates.click_rate)),
    };
  };

  const row = (a) => {
    const c = cells(a);
    const tr = h(
      "tr",
      { dataset: { id: a.id } },
      h("td", { class: "name", "data-label": "Automation" }, h("a", { href: route("automations", a.id) }, a.name), h("div", { class: "sub" }, a.id)),
      h("td", { "data-label": "Status" }, badge(a.status, a.status_reason || undefined)),
      h("td", { "data-label": "Trigger" }, h("code", null, a.trigger)),
      h("td", { class: "n", "data-label": "Runs" }, c.runs),
      h("td", { class: "n", "data-label": "Sent" }, c.sent),
      h("td", { class: "n", "data-label": "Opened" }, c.open),
      h("td", { class: "n", "data-label": "Clicked" }, c.click),
      h("td", { "data-label": "On" }, statusSwitch(ctx, a, () => draw())),
      h("td", { class: "actions", "data-label": "" }, actionsMenu(ctx, a, {
        onRenamed: (renamed) => {
          a.name = renamed.name;
          draw();
        },
        onDeleted: () => {
          list = list.filter((x) => x.id !== a.id);
          draw();
        },
      })),
    );
    rows.set(a.id, tr);
    return tr;
  };

  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = list.filter(
      (a) =>
        (!status.value || a.status === status.value) &&
        (!q || a.name.toLowerCase().includes(q) || a.id.includes(q) || (a.trigger || "").toLowerCase().includes(q)),
    );
    if (!list.length) {
      clear(body, empty("No automation yet. "), h("p", null, h("a", { href: "#/templates" }, "Start from a suggested template"), " or write one."));
      return;
    }
    clear(
      body,
      h(
        "table",
        { class: "table responsive automations" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", null, "Automation"),
            h("th", null, "Status"),
            h("th", null, "Trigger"),
            h("th", { class: "n", title: "Runs started, all time" }, "Runs"),
            h("th", { class: "n", title: "Emails sent, all time" }, "Sent"),
            h("th", { class: "n", title: "Unique opens / delivered" }, "Open rate"),
            h("th", { class: "n", title: "Unique clicks / delivered" }, "Click rate"),
            h("th", null, "On"),
            h("th", null, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", null, shown.map(row)),
      ),
      shown.length ? null : empty("No automation matches."),
    );
  };
  search.addEventListener("input", draw);
  status.addEventListener("change", draw);
  draw();
  // The figures of each automation, as they come.
  await Promise.all(
    list.map(async (a) => {
      try {
        stats.set(a.id, await get(path`/v1/automations/${a.id}/stats`));
      } catch {
        stats.set(a.id, null);
      }
      if (!ctx.alive()) return;
      const tr = rows.get(a.id);
      if (tr && tr.isConnected) tr.replaceWith(row(a));
    }),
  );
}

// --- one automation ---------------------------------------------------------------------------------------------------

const TABS = [
  ["flow", "Flow"],
  ["definition", "Definition"],
  ["versions", "Versions"],
  ["preview", "Preview"],
  ["stats", "Statistics"],
];

export async function automationPage(ctx) {
  const [id, tab = "flow"] = ctx.params;
  const { main } = ctx;
  clear(main, loading());
  let automation;
  try {
    automation = await get(path`/v1/automations/${id}`);
  } catch (error) {
    if (!ctx.alive()) return;
    clear(main, h("p", null, h("a", { href: "#/automations" }, "← Automations")), h("h1", null, id), problem(error));
    return;
  }
  if (!ctx.alive()) return;
  const title = h("h1", null, automation.name);
  let statusBadge = badge(automation.status, automation.status_reason || undefined);
  const version = h("span", { class: "chip" }, `version ${automation.version}`);
  const header = h(
    "div",
    { class: "page-head" },
    h(
      "div",
      null,
      h("p", { class: "crumbs" }, h("a", { href: "#/automations" }, "Automations"), " / ", h("code", null, automation.id)),
      title,
      h("p", { class: "meta" }, statusBadge, " ", version, " ", "when ", h("code", null, automation.definition.trigger?.event || automation.trigger)),
      automation.description ? h("p", { class: "muted" }, automation.description) : null,
    ),
    h(
      "div",
      { class: "head-actions" },
      statusSwitch(ctx, automation, (done) => {
        const fresh = badge(done.status, done.status_reason || undefined);
        statusBadge.replaceWith(fresh);
        statusBadge = fresh;
      }),
      h("a", { class: "button", href: route("runs", { automation: automation.id }) }, "Runs"),
      actionsMenu(ctx, automation, {
        onRenamed: (renamed) => {
          automation.name = renamed.name;
          title.textContent = renamed.name;
        },
        onDeleted: () => {
          location.hash = "#/automations";
        },
      }),
    ),
  );
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Views of the automation" },
    TABS.map(([name, label]) =>
      h("a", { href: route("automations", automation.id, name, ctx.query.period ? { period: ctx.query.period } : null), class: name === tab ? "tab current" : "tab", "aria-current": name === tab ? "page" : null }, label),
    ),
  );
  const body = h("section", { class: "tab-body" });
  clear(main, header, tabs, body);
  const views = { flow: flowTab, definition: editorTab, versions: versionsTab, preview: previewTab, stats: statsTab };
  await (views[tab] || flowTab)(ctx, automation, body);
}

async function flowTab(ctx, automation, body) {
  const chart = h("div", { class: "flow-wrap" }, flowDiagram(automation.definition, null, automation.id));
  clear(
    body,
    h("div", { class: "toolbar" }, periodSelect(ctx, "flow"), h("p", { class: "hint" }, "Each node shows its counters over the period; click one to see its runs.")),
    chart,
  );
  try {
    const stats = await get(path`/v1/automations/${automation.id}/stats`, periodQuery(ctx.query.period || "30"));
    if (ctx.alive()) clear(chart, flowDiagram(automation.definition, stats, automation.id));
  } catch (error) {
    if (ctx.alive()) chart.prepend(problem(error));
  }
}

// --- the definition editor ------------------------------------------------------------------------------------------

function withoutStatus(definition) {
  const { status, ...rest } = definition;
  return rest;
}

const STARTER = `id: my-automation
name: My automation
trigger:
  event: lead.created
steps:
  - delay: 1h
  - send_email:
      to: {trigger_contact: true}
      subject: "Welcome, {{ contact.first_name | default('there') }}"
      html: "<p>Thanks for getting in touch.</p>"
`;

export async function newAutomationPage(ctx) {
  const { main } = ctx;
  const body = h("section", { class: "tab-body" });
  clear(
    main,
    h("div", { class: "page-head" }, h("div", null, h("p", { class: "crumbs" }, h("a", { href: "#/automations" }, "Automations"), " / new"), h("h1", null, "New automation"))),
    h("p", { class: "hint" }, "Write the definition in YAML or JSON (the language is described by ", h("a", { href: "v1/swagger", rel: "noopener" }, "the API's documentation"), "); it is saved as a draft."),
    body,
  );
  editor(ctx, body, { text: STARTER, format: "yaml", isNew: true });
}

async function editorTab(ctx, automation, body) {
  let definition = automation.definition;
  let shownVersion = automation.version;
  if (ctx.query.version && Number(ctx.query.version) !== automation.version) {
    try {
      const old = await get(path`/v1/automations/${automation.id}`, { version: ctx.query.version });
      definition = old.definition;
      shownVersion = Number(ctx.query.version);
    } catch (error) {
      body.append(problem(error));
    }
  }
  if (!ctx.alive()) return;
  const format = ctx.query.format === "json" ? "json" : "yaml";
  const clean = withoutStatus(definition);
  editor(ctx, body, {
    text: format === "json" ? toJson(clean) : toYaml(clean),
    format,
    automation,
    note: shownVersion !== automation.version ? `This is version ${shownVersion}: saving makes it the current definition again, as version ${automation.version + 1}.` : null,
  });
}

/** The definition editor: line numbers, the API's problems at their lines as you type, save as a new version. */
function editor(ctx, body, { text, format, automation, isNew, note }) {
  const textarea = h("textarea", {
    class: "editor-text",
    wrap: "off",
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    "aria-label": "Definition",
    "aria-describedby": "editor-status",
  });
  textarea.value = text;
  const gutter = h("div", { class: "gutter-lines" });
  const marks = h("div", { class: "marks" });
  const status = h("p", { id: "editor-status", class: "editor-status", role: "status" });
  const problems = h("ol", { class: "problems", "aria-label": "Problems" });
  const warnings = h("ul", { class: "warnings" });
  let shown = format;
  let errorLines = new Map();
  let checked = 0;
  let dirty = false;

  const LINE = 20;
  const PAD = 8;
  const drawGutter = () => {
    const count = textarea.value.split("\n").length;
    const numbers = [];
    for (let n = 1; n <= count; n += 1) {
      const bad = errorLines.get(n);
      numbers.push(h("div", { class: bad ? "line bad" : "line", title: bad ? bad.join("\n") : null, dataset: { line: n } }, String(n)));
    }
    clear(gutter, numbers);
    clear(
      marks,
      [...errorLines.keys()].map((line) => {
        const mark = h("div", { class: "mark", dataset: { line } });
        mark.style.top = `${PAD + (line - 1) * LINE}px`;
        return mark;
      }),
    );
    sync();
  };
  const sync = () => {
    gutter.style.transform = `translateY(${-textarea.scrollTop}px)`;
    marks.style.transform = `translateY(${-textarea.scrollTop}px)`;
  };
  const goTo = (line) => {
    const lines = textarea.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    textarea.focus();
    textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
    textarea.scrollTop = Math.max(0, (line - 4) * LINE);
    sync();
  };

  const showProblems = (errors) => {
    errorLines = new Map();
    const items = errors.map((error) => {
      const line = lineOf(textarea.value, error);
      const where = error.loc ? `${error.loc}: ` : "";
      if (line) errorLines.set(line, [...(errorLines.get(line) || []), `${where}${error.message}`]);
      return h(
        "li",
        { class: "problem", dataset: { line: line || "" } },
        line ? h("button", { type: "button", class: "line-link", onclick: () => goTo(line) }, `Line ${line}`) : h("span", { class: "line-link" }, "—"),
        " ",
        error.loc ? h("code", null, error.loc) : null,
        error.loc ? " " : null,
        error.message,
      );
    });
    clear(problems, items);
    drawGutter();
  };

  const validate = async () => {
    const mine = ++checked;
    clear(status, "Checking…");
    status.className = "editor-status";
    try {
      const answer = await post("/v1/automations/validate", textarea.value, { contentType: "application/yaml" });
      if (mine !== checked) return null;
      showProblems([]);
      clear(status, "✓ Valid");
      status.className = "editor-status ok";
      clear(warnings, (answer.activation_problems || []).map((p) => h("li", null, `Cannot be activated yet: ${p}`)));
      return answer;
    } catch (error) {
      if (mine !== checked) return null;
      clear(warnings);
      if (error.status === 422 || error.status === 400) {
        const errors = error.errors.length ? error.errors : [{ loc: "", message: error.body.message || error.message }];
        showProblems(errors);
        clear(status, `${errors.length} problem${errors.length > 1 ? "s" : ""}: fix ${errors.length > 1 ? "them" : "it"} before saving`);
      } else {
        clear(status, explain(error));
      }
      status.className = "editor-status bad";
      return null;
    }
  };

  let timer = null;
  textarea.addEventListener("input", () => {
    dirty = true;
    drawGutter();
    clearTimeout(timer);
    timer = setTimeout(validate, 600);
  });
  textarea.addEventListener("scroll", sync);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
      textarea.dispatchEvent(new Event("input"));
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      save.click();
    }
  });
  window.addEventListener(
    "beforeunload",
    (event) => {
      if (dirty && ctx.alive()) event.preventDefault();
    },
  );

  const switchTo = async (wanted) => {
    if (wanted === shown) return;
    let definition = null;
    if (looksLikeJson(textarea.value)) {
      try {
        definition = JSON.parse(textarea.value);
      } catch {
        definition = null;
      }
    }
    if (!definition) {
      const answer = await validate();
      definition = answer ? withoutStatus(answer.definition) : null;
    }
    if (!definition) {
      toast("Fix the problems before switching the format.", "error");
      return;
    }
    textarea.value = wanted === "json" ? toJson(definition) : toYaml(definition);
    shown = wanted;
    yamlButton.classList.toggle("current", wanted === "yaml");
    jsonButton.classList.toggle("current", wanted === "json");
    drawGutter();
    validate();
  };
  const yamlButton = h("button", { type: "button", class: shown === "yaml" ? "seg current" : "seg", onclick: () => switchTo("yaml") }, "YAML");
  const jsonButton = h("button", { type: "button", class: shown === "json" ? "seg current" : "seg", onclick: () => switchTo("json") }, "JSON");

  const save = action(isNew ? "Create draft" : `Save as version ${automation.version + 1}`, async () => {
    clearTimeout(timer);
    const answer = await validate();
    if (!answer) {
      const first = [...errorLines.keys()].sort((a, b) => a - b)[0];
      if (first) goTo(first);
      toast("Not saved: the definition has problems (shown at their lines).", "error");
      return;
    }
    try {
      if (isNew) {
        const created = await post("/v1/automations", textarea.value, { contentType: "application/yaml" });
        dirty = false;
        toast(`Created “${created.name}” as a draft.`);
        location.hash = route("automations", created.id);
        return;
      }
      const saved = await put(path`/v1/automations/${automation.id}`, textarea.value, { contentType: "application/yaml" });
      dirty = false;
      toast(`Saved as version ${saved.version}.`);
      location.hash = route("automations", automation.id, "definition", { saved: saved.version });
    } catch (error) {
      if (error.status === 422 && error.errors.length) showProblems(error.errors);
      clear(status, explain(error));
      status.className = "editor-status bad";
      toast(explain(error), "error");
    }
  }, { class: "button primary" });
  ctx.guard(save, "automations:write");
  const revert = isNew
    ? null
    : h("button", {
        type: "button",
        class: "button",
        onclick: async () => {
          if (dirty && !(await ask({ title: "Discard your changes?", confirm: "Discard", danger: true }))) return;
          textarea.value = shown === "json" ? toJson(withoutStatus(automation.definition)) : toYaml(withoutStatus(automation.definition));
          dirty = false;
          drawGutter();
          validate();
        },
      }, "Revert");

  clear(
    body,
    note ? h("p", { class: "notice" }, note) : null,
    h(
      "div",
      { class: "editor-toolbar" },
      h("div", { class: "segmented", role: "group", "aria-label": "Format" }, yamlButton, jsonButton),
      h("button", { type: "button", class: "button", onclick: validate }, "Validate"),
      revert,
      save,
      status,
    ),
    h("div", { class: "editor" }, h("div", { class: "gutter", "aria-hidden": "true" }, gutter), h("div", { class: "editor-area" }, marks, textarea)),
    problems,
    warnings,
  );
  drawGutter();
  validate();
}

// --- versions ----------------------------------------------------------------------------------------------------

async function versionsTab(ctx, automation, body) {
  clear(body, loading());
  let versions;
  try {
    versions = (await get(path`/v1/automations/${automation.id}/versions`)).versions;
  } catch (error) {
    if (ctx.alive()) clear(body, problem(error));
    return;
  }
  if (!ctx.alive()) return;
  const numbers = versions.map((v) => v.version);
  const current = automation.version;
  const from = h("select", { "aria-label": "From version" }, numbers.map((n) => h("option", { value: n, selected: n === Math.max(1, current - 1) }, `version ${n}`)));
  const to = h("select", { "aria-label": "To version" }, numbers.map((n) => h("option", { value: n, selected: n === current }, `version ${n}`)));
  const diffBox = h("div", { class: "diff-box" });
  const cache = new Map();
  const textOf = async (n) => {
    if (!cache.has(n)) cache.set(n, get(path`/v1/automations/${automation.id}`, { version: n }).then((a) => toYaml(withoutStatus(a.definition))));
    return cache.get(n);
  };
  const showDiff = async () => {
    clear(diffBox, loading("Comparing…"));
    try {
      const [a, b] = await Promise.all([textOf(Number(from.value)), textOf(Number(to.value))]);
      if (!ctx.alive()) return;
      const lines = diffLines(a, b);
      if (!lines) return clear(diffBox, empty("These versions are too long to compare here."));
      const parts = hunks(lines);
      if (!parts.length) return clear(diffBox, empty("No difference."));
      clear(
        diffBox,
        h(
          "div",
          { class: "diff", role: "table", "aria-label": `Differences from version ${from.value} to ${to.value}` },
          parts.map((hunk) => [
            h("div", { class: "diff-hunk" }, `@@ -${hunk.find((l) => l.a)?.a ?? 0} +${hunk.find((l) => l.b)?.b ?? 0} @@`),
            hunk.map((line) =>
              h(
                "div",
                { class: `diff-line ${line.kind === "+" ? "add" : line.kind === "-" ? "del" : "same"}` },
                h("span", { class: "diff-no" }, line.a ?? ""),
                h("span", { class: "diff-no" }, line.b ?? ""),
                h("span", { class: "diff-text" }, `${line.kind} ${line.text}`),
              ),
            ),
          ]),
        ),
      );
    } catch (error) {
      clear(diffBox, problem(error));
    }
  };
  from.addEventListener("change", showDiff);
  to.addEventListener("change", showDiff);
  clear(
    body,
    h(
      "table",
      { class: "table responsive" },
      h("thead", null, h("tr", null, h("th", null, "Version"), h("th", null, "Saved"), h("th", null, "Name"), h("th", null, "Trigger"), h("th", null, ""))),
      h(
        "tbody",
        null,
        [...versions].reverse().map((v) =>
          h(
            "tr",
            null,
            h("td", { "data-label": "Version" }, `${v.version}`, v.current ? [" ", badge("current")] : null),
            h("td", { "data-label": "Saved" }, timeTag(v.created_at)),
            h("td", { "data-label": "Name" }, v.name),
            h("td", { "data-label": "Trigger" }, h("code", null, v.trigger)),
            h(
              "td",
              { class: "actions", "data-label": "" },
              h("a", { class: "button small", href: route("automations", automation.id, "definition", { version: v.version }) }, "Open in editor"),
            ),
          ),
        ),
      ),
    ),
    h("h2", null, "Differences"),
    h("div", { class: "toolbar" }, h("label", { class: "inline-field" }, h("span", null, "From"), from), h("label", { class: "inline-field" }, h("span", null, "to"), to)),
    diffBox,
  );
  if (numbers.length > 1) showDiff();
  else clear(diffBox, empty("Only one version so far: save the definition to make another."));
}

// --- preview and test emails ----------------------------------------------------------------------------------------

async function sampleEvent(automation) {
  try {
    const templates = (await get("/v1/templates")).templates;
    const trigger = automation.definition.trigger?.event;
    const found = templates.find((t) => t.id === automation.id) || templates.find((t) => t.trigger === trigger);
    if (found && found.sample_event) {
      const { id, type, occurred_at, ...rest } = found.sample_event;
      return rest;
    }
  } catch {
    // no templates for this key: the generic sample below
  }
  return { contact: { id: "c_1", email: "ana@example.com", first_name: "Ana" }, data: {} };
}

function checksTable(checks) {
  if (!checks || !checks.length) return null;
  return h(
    "table",
    { class: "table checks" },
    h("thead", null, h("tr", null, h("th", null, "Field"), h("th", null, "Test"), h("th", null, "Actual"), h("th", null, "Result"))),
    h(
      "tbody",
      null,
      checks.map((c) =>
        h(
          "tr",
          null,
          h("td", null, h("code", null, c.field)),
          h("td", null, `${c.op} ${c.value === undefined ? "" : JSON.stringify(c.value)}`),
          h("td", null, c.missing ? h("span", { class: "muted" }, "missing") : JSON.stringify(c.actual)),
          h("td", null, c.result ? "✓ holds" : "✗ does not hold"),
        ),
      ),
    ),
  );
}

/** An email as it would be sent, in each language it is written in: a choice of language (the contact's first)
shows that version. */
export function emailPreview(email) {
  const names = Object.keys(email.locales || {});
  if (names.length < 2) return emailVersion(email);
  const chosen = email.locale && names.includes(email.locale) ? email.locale : names[0];
  const select = h(
    "select",
    { "aria-label": "Language of the email", class: "email-locale" },
    names.map((name) => h("option", { value: name, selected: name === chosen }, name)),
  );
  const holder = h("div");
  const show = () => clear(holder, emailVersion({ ...email, ...email.locales[select.value] }));
  select.addEventListener("change", show);
  show();
  return h(
    "div",
    null,
    h("label", { class: "inline-field" }, h("span", null, `Language (this contact gets ${chosen})`), select),
    holder,
  );
}

/** One version of an email: its headers, its HTML in a sandboxed frame (no script, no same origin), its text. */
function emailVersion(email) {
  const frame = h("iframe", {
    class: "email-frame",
    sandbox: "",
    referrerpolicy: "no-referrer",
    title: `Email: ${email.subject || ""}`,
    srcdoc: email.html || "<p>(no HTML part)</p>",
  });
  return h(
    "div",
    { class: "email" },
    facts([
      ["Subject", email.subject],
      ["To", (email.to || []).join(", ")],
      email.from || email.from_name ? ["From", [email.from_name, email.from].filter(Boolean).join(" ")] : null,
      email.reply_to ? ["Reply to", email.reply_to] : null,
      ["Type", email.type],
    ]),
    frame,
    email.text ? h("details", null, h("summary", null, "Text version"), h("pre", { class: "code" }, email.text)) : null,
  );
}

async function previewTab(ctx, automation, body) {
  const sample = h("textarea", { class: "code-input", rows: 12, spellcheck: "false", "aria-label": "Sample event (JSON)" });
  sample.value = JSON.stringify(await sampleEvent(automation), null, 2);
  if (!ctx.alive()) return;
  const locale = h("input", { type: "text", list: "locales", placeholder: "the contact's", "aria-label": "Locale", size: 10 });
  const locales = h("datalist", { id: "locales" }, ["en", "de", "fr", "es", "pt", "it", "nl", "pl", "sv"].map((l) => h("option", { value: l })));
  const result = h("div", { class: "preview-result" });

  const event = () => {
    const parsed = JSON.parse(sample.value || "{}");
    if (locale.value.trim()) parsed.contact = { ...(parsed.contact || {}), locale: locale.value.trim() };
    return parsed;
  };

  const run = action("Preview", async () => {
    let given;
    try {
      given = event();
    } catch (error) {
      clear(result, h("p", { class: "error" }, `The sample event is not valid JSON: ${error.message}`));
      return;
    }
    clear(result, loading("Rendering…"));
    try {
      const preview = await post(path`/v1/automations/${automation.id}/preview`, given);
      if (ctx.alive()) showPreview(ctx, automation, preview, result, given);
    } catch (error) {
      if (ctx.alive()) clear(result, problem(error));
    }
  }, { class: "button primary" });
  ctx.guard(run, "automations:write");
  clear(
    body,
    h("p", { class: "hint" }, "Renders every step for a sample trigger event: the branch each condition takes, and each email as it would be sent. Nothing is sent or stored."),
    h("label", { class: "field" }, h("span", null, "Sample event (JSON: contact, data; the type is the trigger's)"), sample),
    h("div", { class: "toolbar" }, h("label", { class: "inline-field" }, h("span", null, "Locale"), locale, locales), run),
    result,
  );
  if (!run.disabled) run.click();
}

function showPreview(ctx, automation, preview, result, given) {
  const trigger = preview.trigger || {};
  const steps = preview.steps || [];
  const cards = steps.map((step) => {
    const head = h(
      "div",
      { class: "preview-head" },
      h("span", { class: "node-kind" }, step.kind.replace(/_/g, " ")),
      " ",
      h("code", null, step.id),
      " ",
      step.reached ? badge("reached") : badge("not reached"),
      step.kind === "if" && step.reached ? [" ", badge(step.branch === "then" ? "THEN" : "ELSE")] : null,
    );
    const parts = [head];
    if (step.kind === "delay" && step.delay) parts.push(h("p", null, `Wait ${delayText(step.delay)}`));
    if (step.decision) parts.push(h("p", { class: "muted" }, step.decision));
    if (step.kind === "if") parts.push(checksTable(step.checks));
    if (step.email) {
      parts.push(emailPreview(step.email));
      const to = h("input", { type: "email", placeholder: "you@example.com", "aria-label": "Send a test to", required: true });
      const send = action("Send a test email", async () => {
        if (!to.reportValidity()) return;
        try {
          await post(path`/v1/automations/${automation.id}/test-email`, { to: to.value, event: given, step: step.id });
          toast(`Test email of ${step.id} sent to ${to.value} (marked as a test, not counted).`);
        } catch (error) {
          toast(explain(error), "error");
        }
      });
      ctx.guard(send, "automations:write");
      parts.push(h("div", { class: "toolbar test-email" }, to, send));
    }
    const other = Object.fromEntries(Object.entries(step).filter(([k]) => !["id", "loc", "kind", "reached", "decision", "checks", "email", "branch", "result", "delay"].includes(k)));
    if (Object.keys(other).length) parts.push(pretty(other));
    return h("article", { class: `card preview-step${step.reached ? "" : " unreached"}`, dataset: { step: step.id } }, parts);
  });
  clear(
    result,
    h(
      "div",
      { class: "card" },
      facts([
        ["Trigger", trigger.matched ? "matches this event" : `does not match: ${trigger.reason || ""}`],
        trigger.person ? ["Person", trigger.person] : null,
        ["Path", (preview.path || []).join(" → ") || "—"],
        ["Outcome", preview.outcome ? `${preview.outcome.status}: ${preview.outcome.reason}` : "—"],
      ]),
      checksTable(trigger.checks),
    ),
    cards,
  );
}

// --- statistics -------------------------------------------------------------------------------------------------------

/** The daily chart, drawn again for its box's width when that changes (its text stays readable on a phone). */
function responsiveChart(days) {
  const box = h("div", { class: "chart-box" });
  let drawn = 0;
  const draw = (width) => {
    const wanted = Math.round(Math.max(280, Math.min(720, width)));
    if (Math.abs(wanted - drawn) < 24) return;
    drawn = wanted;
    clear(box, dailyChart(days, wanted));
  };
  draw(720);
  new ResizeObserver((entries) => {
    const width = entries[0].contentRect.width;
    if (width) draw(width);
  }).observe(box);
  return box;
}

function card(label, value, hint) {
  return h("div", { class: "stat-card", title: hint }, h("div", { class: "stat-value" }, value), h("div", { class: "stat-label" }, label));
}

async function statsTab(ctx, automation, body) {
  clear(body, h("div", { class: "toolbar" }, periodSelect(ctx, "stats")), loading());
  let stats;
  try {
    stats = await get(path`/v1/automations/${automation.id}/stats`, { ...periodQuery(ctx.query.period || "30"), interval: "day" });
  } catch (error) {
    if (ctx.alive()) body.append(problem(error));
    return;
  }
  if (!ctx.alive()) return;
  const t = stats.totals;
  const stepRows = stats.steps.filter((s) => s.kind === "send_email" || s.sent || s.kind === null);
  clear(
    body,
    h("div", { class: "toolbar" }, periodSelect(ctx, "stats"), h("p", { class: "hint" }, stats.from ? `From ${stats.from} (UTC)` : "All time")),
    h(
      "div",
      { class: "stat-cards" },
      card("Runs started", num(t.runs_started)),
      card("Completed", num(t.runs_completed)),
      card("Skipped", num(t.skipped), `filter ${t.skipped_filter}, frequency ${t.skipped_frequency}, run key ${t.skipped_run_key}`),
      card("Emails sent", num(t.sent)),
      card("Delivered", pct(t.rates.delivery_rate), `${num(t.delivered)} delivered`),
      card("Open rate", pct(t.rates.open_rate), `${num(t.opened_unique)} unique opens`),
      card("Click rate", pct(t.rates.click_rate), `${num(t.clicked_unique)} unique clicks`),
      card("Bounces", num(t.bounced), `${num(t.bounced_hard)} hard`),
      card("Complaints", num(t.complained)),
      card("Unsubscribes", num(t.unsubscribed)),
    ),
    h("div", { class: "two-columns" }, h("section", { class: "card" }, h("h2", null, "Funnel"), funnel(t)), h("section", { class: "card" }, h("h2", null, "Per day"), stats.days && stats.days.length ? responsiveChart(stats.days) : empty("No day in this period."))),
    h("h2", null, "Emails per step"),
    stepRows.length
      ? h(
          "table",
          { class: "table responsive" },
          h("thead", null, h("tr", null, ["Step", "Sent", "Delivered", "Opened", "Clicked", "Bounced", "Complaints", "Unsubscribed"].map((l, i) => h("th", { class: i ? "n" : null }, l)))),
          h(
            "tbody",
            null,
            stepRows.map((s) =>
              h(
                "tr",
                null,
                h("td", { "data-label": "Step" }, h("a", { href: route("runs", { automation: automation.id, step: s.step }) }, s.step), s.kind === null ? h("span", { class: "sub" }, " (earlier version)") : null),
                h("td", { class: "n", "data-label": "Sent" }, num(s.sent)),
                h("td", { class: "n", "data-label": "Delivered" }, num(s.delivered)),
                h("td", { class: "n", "data-label": "Opened" }, `${num(s.opened_unique)} (${pct(s.rates.open_rate)})`),
                h("td", { class: "n", "data-label": "Clicked" }, `${num(s.clicked_unique)} (${pct(s.rates.click_rate)})`),
                h("td", { class: "n", "data-label": "Bounced" }, num(s.bounced)),
                h("td", { class: "n", "data-label": "Complaints" }, num(s.complained)),
                h("td", { class: "n", "data-label": "Unsubscribed" }, num(s.unsubscribed)),
              ),
            ),
          ),
        )
      : empty("This automation sends no email."),
  );
}
