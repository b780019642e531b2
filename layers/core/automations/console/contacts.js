// Contacts: searched or listed by label; one person's profile, labels, points, badges, subscriptions,
// suppressions and runs, changed where the key may.

import { explain, get, patch, path } from "./api.js";
import { action, ask, badge, chip, clear, empty, facts, h, loadDetail, loading, num, pretty, route, timeTag, toast } from "./dom.js";
import { runsTable } from "./runs.js";

function fullName(p) {
  return [p.first_name, p.last_name].filter(Boolean).join(" ");
}

export async function contactsPage(ctx) {
  const { main, query } = ctx;
  const q = h("input", { type: "search", name: "q", placeholder: "Email, first or last name (its start)", "aria-label": "Search contacts", value: query.q || "" });
  const label = h("input", { type: "search", name: "label", placeholder: "Label", "aria-label": "Label", value: query.label || "" });
  const form = h("form", { class: "toolbar filters", role: "search" }, q, label, h("button", { type: "submit", class: "button" }, "Search"));
  const person = h("input", { type: "text", name: "person", placeholder: "Open a person by id", "aria-label": "Person id" });
  const open = h("form", { class: "toolbar" }, person, h("button", { type: "submit", class: "button" }, "Open"));
  const body = h("div", null, loading());
  clear(main, h("div", { class: "page-head" }, h("h1", null, "Contacts")), form, open, body);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("contacts", { q: q.value.trim(), label: label.value.trim() });
  });
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    if (person.value.trim()) location.hash = route("contacts", person.value.trim());
  });
  if (!ctx.can("contacts:read")) {
    clear(body, h("p", { class: "notice" }, "This key lacks the scope “contacts:read”: it may not read contacts."));
    return;
  }
  const rows = h("tbody");
  const more = h("div");
  let cursor = null;
  const page = async () => {
    const answer = await get("/v1/contacts", { q: query.q, label: query.label, limit: 50, cursor });
    if (!ctx.alive()) return 0;
    for (const p of answer.contacts) {
      rows.append(
        h(
          "tr",
          null,
          h("td", { "data-label": "Person" }, h("a", { href: route("contacts", p.id) }, fullName(p) || p.id), h("div", { class: "sub" }, p.id)),
          h("td", { "data-label": "Email" }, p.email || "—"),
          h("td", { "data-label": "Labels" }, p.labels.length ? p.labels.map((l) => chip(l)) : "—"),
          h("td", { class: "n", "data-label": "Points" }, num(p.points)),
          h("td", { "data-label": "Updated" }, timeTag(p.updated_at)),
        ),
      );
    }
    cursor = answer.next_cursor;
    clear(more, cursor ? action("More", page) : null);
    return answer.contacts.length;
  };
  try {
    clear(
      body,
      h(
        "table",
        { class: "table responsive" },
        h("thead", null, h("tr", null, h("th", null, "Person"), h("th", null, "Email"), h("th", null, "Labels"), h("th", { class: "n" }, "Points"), h("th", null, "Updated"))),
        rows,
      ),
      more,
    );
    const count = await page();
    if (!count && ctx.alive()) clear(body, empty(query.q || query.label ? "No contact matches." : "No contact yet: contacts are made by events and by the API."));
  } catch (error) {
    if (ctx.alive()) clear(body, h("p", { class: "error" }, explain(error)));
  }
}

export async function contactPage(ctx) {
  const [person] = ctx.params;
  const { main } = ctx;
  const contact = await loadDetail(ctx, path`/v1/contacts/${person}`, ["#/contacts", "Contacts"], person);
  if (!contact) return;
  const profile = contact.profile;
  const writable = ctx.can("contacts:write");
  const change = async (body, done) => {
    try {
      const changed = await patch(path`/v1/contacts/${person}`, body);
      toast(done);
      contactPage({ ...ctx, alive: ctx.alive });
      return changed;
    } catch (error) {
      toast(explain(error), "error");
      return null;
    }
  };

  const labels = profile
    ? h(
        "div",
        { class: "chips" },
        profile.labels.map((l) =>
          chip(
            l,
            writable
              ? h("button", { type: "button", class: "chip-remove", "aria-label": `Remove the label ${l}`, onclick: () => change({ remove_labels: [l] }, `Label “${l}” removed.`) }, "×")
              : null,
          ),
        ),
        profile.labels.length ? null : h("span", { class: "muted" }, "none"),
      )
    : null;
  const labelInput = h("input", { type: "text", placeholder: "New label", "aria-label": "New label", required: true, maxlength: 100 });
  const labelForm = h("form", { class: "inline-form" }, labelInput, ctx.guard(h("button", { type: "submit", class: "button small" }, "Add label"), "contacts:write"));
  labelForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (labelInput.value.trim()) change({ add_labels: [labelInput.value.trim()] }, `Label “${labelInput.value.trim()}” added.`);
  });
  ctx.guard(labelInput, "contacts:write");
  const points = ctx.guard(
    h(
      "button",
      {
        type: "button",
        class: "button small",
        onclick: async () => {
          const given = await ask({
            title: "Change points",
            message: "Points to add; a negative number takes them (the balance never goes below 0).",
            confirm: "Change",
            fields: [{ name: "points", label: "Points", type: "number", value: "10", required: true }],
          });
          if (given && Number(given.points)) change({ add_points: Number(given.points) }, "Points changed.");
        },
      },
      "Change points",
    ),
    "contacts:write",
  );
  const subscription = (kind) => {
    const on = profile ? profile.subscriptions[kind] !== false : true;
    const input = h("input", { type: "checkbox", role: "switch", class: "switch", checked: on, "aria-label": `${kind} email` });
    ctx.guard(input, "contacts:write");
    input.addEventListener("change", async () => {
      if (!input.checked) {
        const ok = await ask({ title: `Stop ${kind} email to ${person}?`, message: `The person gets no more ${kind} email until this is turned on again.`, confirm: "Stop", danger: true });
        if (!ok) {
          input.checked = true;
          return;
        }
      }
      const done = await change({ subscriptions: { [kind]: input.checked } }, `${kind} email ${input.checked ? "on" : "off"}.`);
      if (!done) input.checked = !input.checked;
    });
    return h("label", { class: "switch-label" }, input, h("span", { class: "switch-text" }, kind));
  };
  const suppressionTable = (list) =>
    list.length
      ? h(
          "table",
          { class: "table responsive" },
          h("thead", null, h("tr", null, ["Address", "Kind", "Covers", "Reason", "Source", "Since"].map((l) => h("th", null, l)))),
          h(
            "tbody",
            null,
            list.map((s) =>
              h(
                "tr",
                null,
                h("td", { "data-label": "Address" }, s.address),
                h("td", { "data-label": "Kind" }, badge(s.kind)),
                h("td", { "data-label": "Covers" }, s.scope === "all" ? "every email" : `${s.scope} email`),
                h("td", { "data-label": "Reason" }, s.reason),
                h("td", { "data-label": "Source" }, s.source, s.automation_id ? [" (", h("a", { href: route("automations", s.automation_id) }, s.automation_id), ")"] : null),
                h("td", { "data-label": "Since" }, timeTag(s.at)),
              ),
            ),
          ),
        )
      : empty("None.");

  clear(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        null,
        h("p", { class: "crumbs" }, h("a", { href: "#/contacts" }, "Contacts"), " / ", h("code", null, person)),
        h("h1", null, profile ? fullName(profile) || person : person),
        profile ? null : h("p", { class: "notice" }, "No profile is stored for this person; what is known of their addresses and runs is below."),
      ),
    ),
    h(
      "div",
      { class: "two-columns" },
      h(
        "section",
        { class: "card" },
        h("h2", null, "Profile"),
        profile
          ? facts([
              ["Id", h("code", null, profile.id)],
              ["Email", profile.email],
              ["Phone", profile.phone],
              ["Time zone", profile.timezone],
              ["Locale", profile.locale],
              ["Lead status", profile.lead_status],
              ["Points", h("span", null, h("strong", { class: "points" }, num(profile.points)), " ", points)],
              ["Badges", profile.badges.length ? profile.badges.map((b) => chip(b)) : "none"],
              ["Created", timeTag(profile.created_at)],
              ["Updated", timeTag(profile.updated_at)],
            ])
          : empty("No profile."),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", null, "Labels"),
        labels,
        profile ? labelForm : null,
        h("h2", null, "Subscriptions"),
        h("div", { class: "switches" }, subscription("promotional"), subscription("transactional")),
        h("h2", null, "Addresses"),
        contact.addresses.length
          ? h(
              "ul",
              { class: "plain" },
              contact.addresses.map((a) =>
                h(
                  "li",
                  null,
                  h("strong", null, a.address),
                  " gets ",
                  Object.entries(a.receives).filter(([, yes]) => yes).map(([k]) => k.replace(/_/g, " ")).join(", ") || "no email",
                ),
              ),
            )
          : empty("No address known."),
      ),
    ),
    profile && Object.keys(profile.attributes).length ? h("section", { class: "card" }, h("h2", null, "Attributes"), pretty(profile.attributes)) : null,
    h("h2", null, "Suppressions (bounces and complaints)"),
    suppressionTable(contact.suppressions),
    h("h2", null, "Unsubscribes"),
    suppressionTable(contact.unsubscribed),
    h("h2", null, "Runs"),
    contact.runs.length ? runsTable(contact.runs, { showPerson: false }) : empty("No run for this person."),
  );
}
