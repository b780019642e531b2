// Runs: filtered by automation, person, status and step; and one run's timeline, every decision with its reason.

import { explain, get, path } from "./api.js";
import { badge, clear, empty, facts, h, loadDetail, loading, pretty, route, timeTag } from "./dom.js";

const STATUSES = ["running", "waiting", "completed", "skipped", "cancelled", "failed"];
const STEP_LIMIT = 50;

export function runsTable(runs, { showAutomation = true, showPerson = true } = {}) {
  return h(
    "table",
    { class: "table responsive runs" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", null, "Run"),
        showAutomation ? h("th", null, "Automation") : null,
        showPerson ? h("th", null, "Person") : null,
        h("th", null, "Status"),
        h("th", null, "Started"),
        h("th", null, "Ended or due"),
        h("th", null, "Reason"),
        h("th", { class: "n" }, "Emails"),
      ),
    ),
    h(
      "tbody",
      null,
      runs.map((run) =>
        h(
          "tr",
          { dataset: { run: run.id } },
          h("td", { "data-label": "Run" }, h("a", { href: route("runs", run.id) }, run.id), run.event?.type ? h("div", { class: "sub" }, run.event.type) : null),
          showAutomation ? h("td", { "data-label": "Automation" }, h("a", { href: route("automations", run.automation_id) }, run.automation_id), h("span", { class: "sub" }, ` v${run.version}`)) : null,
          showPerson ? h("td", { "data-label": "Person" }, run.person ? h("a", { href: route("contacts", run.person) }, run.person) : "—") : null,
          h("td", { "data-label": "Status" }, badge(run.status), run.position ? h("div", { class: "sub" }, `at ${run.position}`) : null),
          h("td", { "data-label": "Started" }, timeTag(run.started_at)),
          h("td", { "data-label": run.ended_at ? "Ended" : "Due" }, timeTag(run.ended_at || run.due_at)),
          h("td", { "data-label": "Reason", class: "reason" }, run.end_reason || "—"),
          h("td", { class: "n", "data-label": "Emails" }, String(run.emails ?? 0)),
        ),
      ),
    ),
  );
}

export async function runsPage(ctx) {
  const { main, query } = ctx;
  const automation = h("select", { name: "automation", "aria-label": "Automation" }, h("option", { value: "" }, "Every automation"));
  const person = h("input", { name: "person", type: "search", placeholder: "Person (contact id or email)", "aria-label": "Person", value: query.person || "" });
  const status = h(
    "select",
    { name: "status", "aria-label": "Status" },
    h("option", { value: "" }, "Every status"),
    STATUSES.map((s) => h("option", { value: s, selected: query.status === s }, s)),
  );
  const form = h("form", { class: "toolbar filters", role: "search" }, automation, person, status, h("button", { type: "submit", class: "button" }, "Filter"));
  const stepNote = query.step
    ? h("p", { class: "notice" }, "Runs that went through step ", h("code", null, query.step), ". ", h("a", { href: route("runs", { ...query, step: null }) }, "Show every run"))
    : null;
  const body = h("div", null, loading());
  clear(main, h("div", { class: "page-head" }, h("h1", null, "Runs")), form, stepNote, body);
  if (!ctx.can("automations:read")) {
    clear(body, h("p", { class: "notice" }, "This key lacks the scope “automations:read”: it may not read runs."));
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("runs", { automation: automation.value, person: person.value.trim(), status: status.value, step: query.step && automation.value === query.automation ? query.step : null });
  });

  let automations = [];
  try {
    automations = (await get("/v1/automations")).automations;
  } catch (error) {
    clear(body, h("p", { class: "error" }, explain(error)));
    return;
  }
  if (!ctx.alive()) return;
  for (const a of automations) automation.append(h("option", { value: a.id, selected: a.id === query.automation }, a.name));
  if (query.automation && !automations.some((a) => a.id === query.automation)) {
    automation.append(h("option", { value: query.automation, selected: true }, query.automation));
  }

  let runs;
  try {
    if (query.automation || query.person) {
      runs = (await get("/v1/runs", { automation_id: query.automation, person: query.person, limit: 100 })).runs;
    } else {
      const lists = await Promise.all(automations.map((a) => get("/v1/runs", { automation_id: a.id, limit: 20 }).then((r) => r.runs)));
      runs = lists.flat().sort((x, y) => (x.started_at < y.started_at ? 1 : -1)).slice(0, 100);
    }
  } catch (error) {
    if (ctx.alive()) clear(body, h("p", { class: "error" }, explain(error)));
    return;
  }
  if (!ctx.alive()) return;
  if (query.status) runs = runs.filter((r) => r.status === query.status);
  if (query.step) {
    clear(body, loading("Reading the runs' timelines…"));
    const details = await Promise.all(runs.slice(0, STEP_LIMIT).map((r) => get(path`/v1/runs/${r.id}`).catch(() => null)));
    if (!ctx.alive()) return;
    const through = new Set(details.filter((d) => d && d.timeline.some((e) => e.step === query.step)).map((d) => d.id));
    runs = runs.filter((r) => through.has(r.id));
  }
  clear(
    body,
    runs.length ? runsTable(runs) : empty(query.automation || query.person || query.status || query.step ? "No run matches these filters." : "No run yet: post an event that an active automation is triggered by."),
    runs.length >= 100 ? h("p", { class: "hint" }, "The 100 newest runs are shown: filter by automation or person to see others.") : null,
  );
}

// --- one run ---------------------------------------------------------------------------------------------------

const KIND_LABELS = {
  started: "Started",
  wait: "Waiting",
  resumed: "Resumed",
  branch: "Condition",
  email: "Email",
  email_skipped: "Email skipped",
  finished: "Finished",
};

function detailValue(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) return value.join(", ") || "—";
  if (typeof value === "object") return h("code", null, JSON.stringify(value));
  return String(value);
}

function timelineEntry(entry) {
  const details = { ...(entry.details || {}) };
  const checks = details.checks;
  delete details.checks;
  return h(
    "li",
    { class: `timeline-entry kind-${String(entry.kind).replace(/[^a-z_-]/gi, "")}`, dataset: { kind: entry.kind, step: entry.step || "" } },
    h("div", { class: "timeline-dot", "aria-hidden": "true" }),
    h(
      "div",
      { class: "timeline-body" },
      h("div", { class: "timeline-head" }, h("strong", null, KIND_LABELS[entry.kind] || entry.kind), entry.step ? [" ", h("code", null, entry.step)] : null, " ", h("span", { class: "muted" }, timeTag(entry.at))),
      h("div", { class: "timeline-reason" }, entry.reason),
      Object.keys(details).length
        ? h(
            "dl",
            { class: "facts small" },
            Object.entries(details).map(([k, v]) => [h("dt", null, k.replace(/_/g, " ")), h("dd", null, detailValue(v))]),
          )
        : null,
      checks && checks.length
        ? h(
            "ul",
            { class: "checks-list" },
            checks.map((c) => h("li", null, c.result ? "✓ " : "✗ ", h("code", null, c.field), ` ${c.op} ${c.value === undefined ? "" : JSON.stringify(c.value)}`, h("span", { class: "muted" }, c.missing ? " (missing)" : ` (was ${JSON.stringify(c.actual)})`))),
          )
        : null,
    ),
  );
}

export async function runPage(ctx) {
  const [id] = ctx.params;
  const { main } = ctx;
  const run = await loadDetail(ctx, path`/v1/runs/${id}`, ["#/runs", "Runs"], id);
  if (!run) return;
  clear(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        null,
        h("p", { class: "crumbs" }, h("a", { href: route("runs", { automation: run.automation_id }) }, "Runs"), " / ", h("code", null, run.id)),
        h("h1", null, "Run ", h("code", null, run.id)),
        h("p", { class: "meta" }, badge(run.status), " ", run.end_reason || (run.position ? `waiting at ${run.position}` : "")),
      ),
    ),
    h(
      "div",
      { class: "two-columns" },
      h(
        "section",
        { class: "card" },
        h("h2", null, "Run"),
        facts([
          ["Automation", h("span", null, h("a", { href: route("automations", run.automation_id) }, run.automation_id), ` (version ${run.version})`)],
          ["Person", run.person ? h("a", { href: route("contacts", run.person) }, run.person) : "—"],
          ["Run key", run.run_key],
          ["Event", run.event ? `${run.event.type} (${run.event.id})` : "—"],
          ["Started", timeTag(run.started_at)],
          run.due_at ? ["Due", timeTag(run.due_at)] : null,
          ["Ended", timeTag(run.ended_at)],
          ["Emails", String(run.emails)],
        ]),
      ),
      h("section", { class: "card" }, h("h2", null, "Timeline"), h("ol", { class: "timeline" }, (run.timeline || []).map(timelineEntry))),
    ),
    h("h2", null, "Emails"),
    run.messages && run.messages.length
      ? h(
          "table",
          { class: "table responsive" },
          h("thead", null, h("tr", null, ["Address", "Step", "Subject", "Status", "Sent", "Opened", "Clicked"].map((l) => h("th", null, l)))),
          h(
            "tbody",
            null,
            run.messages.map((m) =>
              h(
                "tr",
                null,
                h("td", { "data-label": "Address" }, m.address),
                h("td", { "data-label": "Step" }, h("code", null, m.step)),
                h("td", { "data-label": "Subject" }, m.subject),
                h("td", { "data-label": "Status" }, badge(m.status || m.state), m.reason ? h("div", { class: "sub" }, m.reason) : null),
                h("td", { "data-label": "Sent" }, timeTag(m.sent_at)),
                h("td", { "data-label": "Opened" }, m.opened_at ? timeTag(m.opened_at) : "—"),
                h("td", { "data-label": "Clicked" }, m.clicked_at ? timeTag(m.clicked_at) : "—"),
              ),
            ),
          ),
        )
      : empty("No email in this run."),
    h("details", { class: "card" }, h("summary", null, "Context (the event, the contact and the data the run reads)"), pretty(run.context || {})),
  );
}
