// Statistics drawn: the funnel from runs to clicks, and the daily chart (SVG, scaled to its box).

import { h, num, pct, s, shortDay } from "./dom.js";

const FUNNEL = [
  ["runs_started", "Runs started"],
  ["sent", "Emails sent"],
  ["delivered", "Delivered"],
  ["opened_unique", "Opened"],
  ["clicked_unique", "Clicked"],
];

/** Horizontal bars, each stage against the widest, with its share of the stage before it. */
export function funnel(totals) {
  const widest = Math.max(1, ...FUNNEL.map(([key]) => totals[key] || 0));
  return h(
    "ol",
    { class: "funnel", "aria-label": "Funnel" },
    FUNNEL.map(([key, label], index) => {
      const value = totals[key] || 0;
      const before = index > 0 ? totals[FUNNEL[index - 1][0]] || 0 : null;
      const bar = h("span", { class: `funnel-bar funnel-${key}` });
      bar.style.width = `${Math.max(value ? 2 : 0, (value / widest) * 100)}%`;
      return h(
        "li",
        { class: "funnel-stage", dataset: { stage: key, value } },
        h("span", { class: "funnel-label" }, label),
        h("span", { class: "funnel-track" }, bar),
        h("span", { class: "funnel-value" }, num(value)),
        h("span", { class: "funnel-share", title: "of the stage before" }, before === null ? "" : before ? pct(value / before) : "—"),
      );
    }),
  );
}

export const SERIES = [
  ["runs_started", "Runs started"],
  ["sent", "Emails sent"],
  ["opened_unique", "Opened"],
  ["clicked_unique", "Clicked"],
];

function niceMax(value) {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * Grouped bars per day of the series (runs started, sent, opened, clicked), with its axis and legend; drawn for
 * a box about `width` pixels wide (its text stays readable on a phone).
 */
export function dailyChart(days, width = 720) {
  const height = width < 500 ? 200 : 240;
  const left = 40;
  const bottom = 24;
  const top = 10;
  const plotWidth = width - left - 8;
  const plotHeight = height - top - bottom;
  const highest = niceMax(Math.max(0, ...days.flatMap((d) => SERIES.map(([key]) => d[key] || 0))));
  const slot = plotWidth / Math.max(1, days.length);
  const barWidth = Math.max(1, (slot * 0.8) / SERIES.length);
  const y = (value) => top + plotHeight - (value / highest) * plotHeight;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((share) => {
    const value = highest * share;
    return s(
      "g",
      { class: "grid" },
      s("line", { x1: left, x2: width - 8, y1: y(value), y2: y(value) }),
      s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, num(Math.round(value))),
    );
  });
  const every = Math.ceil(days.length / Math.max(2, Math.floor(plotWidth / 80)));
  const groups = days.map((day, index) => {
    const x0 = left + index * slot + slot * 0.1;
    return s(
      "g",
      { class: "day", dataset: { day: day.day, runs: day.runs_started || 0, sent: day.sent || 0 } },
      SERIES.map(([key, label], k) => {
        const value = day[key] || 0;
        return s(
          "rect",
          {
            class: `bar bar-${key}`,
            x: x0 + k * barWidth,
            y: y(value),
            width: Math.max(0.5, barWidth - 0.5),
            height: Math.max(0, top + plotHeight - y(value)),
          },
          s("title", null, `${day.day}: ${num(value)} ${label.toLowerCase()}`),
        );
      }),
      (days.length - 1 - index) % every === 0
        ? s(
            "text",
            {
              class: "axis",
              x: index === days.length - 1 && days.length > 1 ? left + (index + 1) * slot : left + index * slot + slot / 2,
              y: height - 6,
              "text-anchor": index === days.length - 1 && days.length > 1 ? "end" : "middle",
            },
            shortDay(day.day),
          )
        : null,
    );
  });
  const totals = Object.fromEntries(SERIES.map(([key]) => [key, days.reduce((sum, d) => sum + (d[key] || 0), 0)]));
  return h(
    "figure",
    { class: "chart" },
    s(
      "svg",
      {
        viewBox: `0 0 ${width} ${height}`,
        role: "img",
        "aria-label": `Daily activity over ${days.length} days`,
        class: "daily",
        dataset: { days: days.length, runs: totals.runs_started, sent: totals.sent },
      },
      grid,
      groups,
    ),
    h(
      "figcaption",
      { class: "legend" },
      SERIES.map(([key, label]) => h("span", { class: "legend-item" }, h("span", { class: `swatch bar-${key}` }), `${label} (${num(totals[key])})`)),
    ),
  );
}
