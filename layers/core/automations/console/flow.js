// The flow diagram of a definition: its trigger (event, filter, frequency), then each step as a node, a
// condition's THEN and ELSE paths side by side, and the end; each node with its counters over the period, and
// a link to the runs that went through it.

import { h, num, pct, route } from "./dom.js";

const OPS = {
  eq: "=",
  ne: "≠",
  gt: ">",
  gte: "≥",
  lt: "<",
  lte: "≤",
  in: "is one of",
  not_in: "is none of",
  contains: "contains",
  not_contains: "does not contain",
  starts_with: "starts with",
  ends_with: "ends with",
  exists: "exists",
  not_exists: "does not exist",
  is_empty: "is empty",
  is_not_empty: "is not empty",
  before: "is before",
  after: "is after",
};
const UNARY = new Set(["exists", "not_exists", "is_empty", "is_not_empty"]);
const ACTIONS = ["send_email", "update_contact", "create_task", "issue_coupon", "put_event", "webhook"];

function show(value) {
  return typeof value === "string" ? `“${value}”` : JSON.stringify(value);
}

/** A condition in words: "data.invoice.total > 500 or contact.labels contains “vip”". */
export function condition(cond, nested = false) {
  if (!cond || typeof cond !== "object") return String(cond);
  if (Array.isArray(cond.all) || Array.isArray(cond.any)) {
    const [items, word] = cond.all ? [cond.all, " and "] : [cond.any, " or "];
    const text = items.map((c) => condition(c, true)).join(word);
    return nested && items.length > 1 ? `(${text})` : text;
  }
  const op = OPS[cond.op] || cond.op;
  return UNARY.has(cond.op) ? `${cond.field} ${op}` : `${cond.field} ${op} ${show(cond.value)}`;
}

export function frequency(value) {
  if (!value || value === "unlimited") return "every time";
  if (value === "once_per_person") return "once per person";
  if (typeof value === "object" && value.once_per_person_every) return `once per person every ${value.once_per_person_every}`;
  return JSON.stringify(value);
}

export function delayText(delay) {
  if (typeof delay === "string") return delay;
  if (delay && delay.until) {
    const offset = delay.offset ? ` ${delay.offset.startsWith("-") ? "" : "+"}${delay.offset}` : "";
    const past = delay.if_past === "run_now" ? " (at once if already past)" : " (skipped if already past)";
    return `until ${delay.until}${offset}${past}`;
  }
  if (delay && delay.at) {
    const zone = !delay.timezone || delay.timezone === "contact" ? "the contact's time" : delay.timezone;
    return `${delay.after ? `at least ${delay.after}, then ` : ""}until the next ${delay.at} (${zone})`;
  }
  return "";
}

function recipients(to) {
  if (!to) return "";
  const out = [];
  if (to.trigger_contact) out.push("the contact");
  for (const extra of to.additional || []) out.push(extra);
  return out.join(", ");
}

/** A text of a definition as one line: a text given by locale shows its first locale, and which ones there are. */
export function textOf(value) {
  if (value && typeof value === "object") {
    const locales = Object.keys(value);
    return locales.length ? `${value[locales[0]]} (${locales.join(", ")})` : "";
  }
  return value;
}

/** What kind a step is, and its title and detail lines. */
export function describe(step) {
  if (step.delay !== undefined && step.delay !== null) return { kind: "delay", title: "Wait", lines: [delayText(step.delay)] };
  if (step.if) return { kind: "if", title: "If", lines: [condition(step.if)] };
  const kind = ACTIONS.find((k) => step[k]) || Object.keys(step).find((k) => !["id", "then", "else"].includes(k));
  const body = step[kind] || {};
  const lines = [];
  let title = kind ? kind.replace(/_/g, " ") : "step";
  title = title.charAt(0).toUpperCase() + title.slice(1);
  if (kind === "send_email") {
    lines.push(body.subject ? `“${textOf(body.subject)}”` : "");
    const to = recipients(body.to);
    if (to) lines.push(`to ${to}`);
    if (body.type) lines.push(`${body.type} email`);
  } else if (kind === "update_contact") {
    for (const [name, value] of Object.entries(body)) lines.push(`${name.replace(/_/g, " ")}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
  } else if (kind === "create_task") {
    if (body.title) lines.push(`“${textOf(body.title)}”`);
    if (body.assignee) lines.push(`for ${body.assignee}`);
    if (body.due) lines.push(`due in ${body.due}`);
  } else if (kind === "issue_coupon") {
    if (body.pool) lines.push(`from pool ${body.pool}`);
  } else if (kind === "put_event") {
    const type = body.type || body.detail_type || body.event;
    if (type) lines.push(`event ${type}`);
  } else if (kind === "webhook") {
    if (body.url) lines.push(`${body.method || "POST"} ${body.url}`);
  } else if (body && typeof body === "object") {
    const text = JSON.stringify(body);
    lines.push(text.length > 80 ? `${text.slice(0, 77)}…` : text);
  }
  return { kind: kind || "step", title, lines: lines.filter(Boolean) };
}

// --- counters -----------------------------------------------------------------------------------------------

function stat(label, value, title) {
  return h("span", { class: "stat", title }, h("b", null, value), " ", label);
}

function runs(count) {
  return stat(count === 1 ? "run" : "runs", num(count));
}

const QUIET = new Set(["step", "kind", "loc", "rates", "skipped", "bounced"]);

function counters(kind, figures) {
  if (!figures) return null;
  const out = [];
  if (kind === "send_email") {
    out.push(stat("sent", num(figures.sent)));
    out.push(stat("delivered", num(figures.delivered)));
    out.push(stat("opened", pct(figures.rates?.open_rate), `${num(figures.opened_unique)} people opened`));
    out.push(stat("clicked", pct(figures.rates?.click_rate), `${num(figures.clicked_unique)} people clicked`));
    if (figures.bounced) out.push(stat("bounced", num(figures.bounced)));
    if (figures.complained) out.push(stat("complaints", num(figures.complained)));
    if (figures.suppressed) out.push(stat("suppressed", num(figures.suppressed)));
  } else {
    for (const [name, value] of Object.entries(figures)) {
      if (!QUIET.has(name) && typeof value === "number" && value) out.push(stat(name.replace(/_/g, " "), num(value)));
    }
  }
  return out.length ? h("div", { class: "stats-row" }, out) : null;
}

// --- the diagram ----------------------------------------------------------------------------------------------

function edge() {
  return h("div", { class: "edge", "aria-hidden": "true" });
}

/**
 * The diagram of a definition. stats: the answer of the statistics route (its totals and steps by loc), or
 * null; automationId: for the links to runs.
 */
export function flowDiagram(definition, stats, automationId) {
  const byLoc = new Map((stats?.steps || []).filter((s) => s.loc).map((s) => [s.loc, s]));
  const totals = stats?.totals;

  const node = (kind, title, lines, figures, link, extra) =>
    h(
      link ? "a" : "div",
      {
        class: `node node-${kind}`,
        href: link || null,
        title: link ? "Show the runs that went through this step" : null,
        dataset: extra,
      },
      h("div", { class: "node-kind" }, title),
      lines.map((line) => h("div", { class: "node-line" }, line)),
      figures,
    );

  const steps = (list, base) => {
    const out = [];
    list.forEach((step, index) => {
      const loc = `${base}[${index}]`;
      const figures = byLoc.get(loc);
      const id = figures?.step || step.id || loc;
      const { kind, title, lines } = describe(step);
      const link = route("runs", { automation: automationId, step: id });
      out.push(edge());
      out.push(node(kind, title, [...lines, h("span", { class: "node-id" }, id)], counters(kind, figures), link, { step: id, loc }));
      if (kind === "if") {
        const branch = (name, label, children) =>
          h(
            "div",
            { class: `branch branch-${name}` },
            h("div", { class: "branch-label" }, label),
            children && children.length ? steps(children, `${loc}.${name}`) : [edge(), h("div", { class: "node node-pass" }, "go on")],
          );
        out.push(h("div", { class: "branches" }, branch("then", "THEN", step.then), branch("else", "ELSE", step.else)));
      }
    });
    return out;
  };

  const trigger = definition.trigger || {};
  const triggerLines = [h("code", null, trigger.event || "?")];
  if (trigger.where) triggerLines.push(`only when ${condition(trigger.where)}`);
  if (trigger.nth) triggerLines.push(`the ${trigger.nth}th time for a person`);
  if (trigger.after_silence) triggerLines.push(`after ${trigger.after_silence} without it`);
  triggerLines.push(`runs ${frequency(definition.frequency)}`);
  if (definition.run_key) triggerLines.push(`one run at a time per ${definition.run_key}`);
  for (const cancel of definition.cancel_on || []) triggerLines.push(`cancelled by ${cancel.event} (same ${cancel.key})`);
  for (const move of definition.reschedule_on || []) triggerLines.push(`moved by ${move.event} (same ${move.key})`);
  const triggerFigures = totals
    ? h(
        "div",
        { class: "stats-row" },
        runs(totals.runs_started),
        totals.skipped ? stat("skipped", num(totals.skipped), `filter ${totals.skipped_filter}, frequency ${totals.skipped_frequency}, run key ${totals.skipped_run_key}`) : null,
      )
    : null;
  const endFigures = totals
    ? h(
        "div",
        { class: "stats-row" },
        stat("completed", num(totals.runs_completed)),
        totals.runs_cancelled ? stat("cancelled", num(totals.runs_cancelled)) : null,
        totals.runs_failed ? stat("failed", num(totals.runs_failed)) : null,
      )
    : null;

  return h(
    "div",
    { class: "flow", role: "group", "aria-label": "Flow of the automation" },
    node("trigger", "When", triggerLines, triggerFigures, route("runs", { automation: automationId }), { step: "trigger" }),
    steps(definition.steps || [], "steps"),
    edge(),
    node("end", "End", [], endFigures, null, { step: "end" }),
  );
}
