// Reports: the top bar's "Reports" button opens a full-pane page over the inbox with a period picker
// (last 7 or 30 days, or custom dates), the period's figures (first response and resolution times:
// median and 90th percentile, in and out of business hours; opened, closed, messages in and out), a
// chart by day of the first response times and one of the messages, a table by agent, a CSV download,
// and (admins) the first-response target. GET /reports and /reports.csv answer it; the charts are
// SVG drawn here (document.createElementNS), nothing from elsewhere.
// The list: a conversation whose customer waits carries "due in 4 min" / "overdue 12 min" (from the
// API's first_response_due_at), red once less than a fifth of the target remains; it counts down
// each minute in the page.

import { api, API } from "./api.js";
import { $, el } from "./dom.js";
import { parseTime } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
let ctx = null;
let page = null;
let target = null; // minutes, or null
let admin = false;
let period = { days: 7, from: null, to: null };
let seq = 0;

// --- formatting ---------------------------------------------------------------------------------

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.setAttribute("class", value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- the list's due badge ------------------------------------------------------------------------

function dueText(dueAt) {
  const left = Math.round((parseTime(dueAt) - Date.now()) / 60000);
  return left >= 0 ? `due in ${left} min` : `overdue ${-left} min`;
}

function dueUrgent(dueAt) {
  const left = (parseTime(dueAt) - Date.now()) / 60000;
  return target !== null && left < target * 0.2;
}

function paintDue(node) {
  const due = node.dataset.due;
  node.textContent = dueText(due);
  node.classList.toggle("urgent", dueUrgent(due));
}

function dueBadge(c) {
  if (!c.first_response_due_at || c.status === "closed") return null;
  const node = el("span", { class: "due-chip", dataset: { due: c.first_response_due_at }, title: "First response target" });
  paintDue(node);
  return node;
}

// --- the page ------------------------------------------------------------------------------------

function query() {
  let from = period.from;
  let to = period.to;
  if (!period.from) {
    const today = new Date();
    to = isoDay(today);
    from = isoDay(new Date(today.getTime() - (period.days - 1) * 86400000));
  }
  return new URLSearchParams({ from, to });
}

function tile(label, value, note, key) {
  return el("div", { class: "report-tile", dataset: { figure: key } }, el("span", { class: "report-tile-label" }, label), el("strong", {}, value), note ? el("span", { class: "hint" }, note) : null);
}

function tiles(totals) {
  const first = totals.first_response;
  const resolution = totals.resolution;
  return el(
    "div",
    { class: "report-tiles" },
    tile("First response · median", duration(first.median_seconds), `p90 ${duration(first.p90_seconds)} · ${first.count} answered`, "first-response"),
    tile("Resolution · median", duration(resolution.median_seconds), `p90 ${duration(resolution.p90_seconds)} · ${resolution.count} closed`, "resolution"),
    tile("Messages in / out", `${totals.messages_in} / ${totals.messages_out}`, null, "messages"),
    tile("Opened / closed", `${totals.opened} / ${totals.closed}`, null, "conversations"),
    tile("Waiting for a reply", String(first.unanswered), first.answered_in_app ? `${first.answered_in_app} answered in the WhatsApp Business app` : null, "unanswered"),
  );
}

// Grouped bars by day: series = [{ name, class, value: (group) => number|null }].
function barChart(title, groups, series, format, id) {
  const width = 640;
  const height = 200;
  const left = 56;
  const bottom = 28;
  const top = 12;
  const values = groups.flatMap((g) => series.map((s) => s.value(g) || 0));
  const max = Math.max(1, ...values);
  const band = (width - left) / Math.max(1, groups.length);
  const bar = Math.max(2, Math.min(18, (band - 4) / series.length));
  const scale = (v) => ((height - top - bottom) * v) / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "report-chart", role: "img", "aria-label": title, id });
  for (const tick of [0, 0.5, 1]) {
    const y = height - bottom - scale(max * tick);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "chart-grid" }), svg("text", { x: left - 6, y: y + 4, class: "chart-axis", "text-anchor": "end" }, format(max * tick)));
  }
  groups.forEach((g, i) => {
    const x0 = left + i * band + (band - bar * series.length) / 2;
    series.forEach((s, j) => {
      const v = s.value(g) || 0;
      const h = scale(v);
      chart.append(svg("rect", { x: x0 + j * bar, y: height - bottom - h, width: bar - 1, height: Math.max(h, 0), class: `chart-bar ${s.class}` }, svg("title", {}, `${g.day} · ${s.name}: ${format(v)}`)));
    });
    const every = Math.ceil(groups.length / 10);
    if (i % every === 0) chart.append(svg("text", { x: left + i * band + band / 2, y: height - 8, class: "chart-axis", "text-anchor": "middle" }, g.day.slice(5)));
  });
  const legend = el("ul", { class: "chart-legend" }, series.map((s) => el("li", {}, el("span", { class: `chart-key ${s.class}` }), s.name)));
  return el("figure", { class: "report-figure" }, el("figcaption", {}, title), chart, legend);
}

function splitTable(totals) {
  const row = (label, f) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, String(f.count)), el("td", {}, duration(f.median_seconds)), el("td", {}, duration(f.p90_seconds)));
  const head = el("tr", {}, el("th", {}, ""), el("th", { scope: "col" }, "Count"), el("th", { scope: "col" }, "Median"), el("th", { scope: "col" }, "p90"));
  const f = totals.first_response;
  const r = totals.resolution;
  return el(
    "table",
    { class: "report-table", id: "report-hours" },
    el("caption", {}, "In and out of business hours"),
    el("thead", {}, head),
    el("tbody", {}, row("First response · in hours", f.in_hours), row("First response · out of hours", f.out_of_hours), row("Resolution · in hours", r.in_hours), row("Resolution · out of hours", r.out_of_hours)),
  );
}

function agentTable(groups) {
  const cols = ["Agent", "First responses", "Median", "p90", "Resolved", "Resolution median", "In", "Out", "Closed"];
  return el(
    "table",
    { class: "report-table", id: "report-agents" },
    el("caption", {}, "By agent"),
    el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col" }, c)))),
    el(
      "tbody",
      {},
      groups.map((g) =>
        el(
          "tr",
          { dataset: { agent: String(g.agent_id ?? "none") } },
          el("th", { scope: "row" }, g.agent_name || "No agent"),
          el("td", {}, String(g.first_response.count)),
          el("td", {}, duration(g.first_response.median_seconds)),
          el("td", {}, duration(g.first_response.p90_seconds)),
          el("td", {}, String(g.resolution.count)),
          el("td", {}, duration(g.resolution.median_seconds)),
          el("td", {}, String(g.messages_in)),
          el("td", {}, String(g.messages_out)),
          el("td", {}, String(g.closed)),
        ),
      ),
    ),
  );
}

function targetSection() {
  const box = el("section", { class: "report-target", id: "report-target" }, el("h3", {}, "First-response target"));
  const current = el("p", { class: "hint", id: "report-target-now" }, target === null ? "No target: the list shows no due times." : `${target} minutes: the list shows when each waiting customer's reply falls due.`);
  box.append(current);
  if (!admin) return box;
  const input = el("input", { id: "report-target-minutes", type: "number", min: "1", max: "10080", value: target ?? "", "aria-label": "Target in minutes", placeholder: "minutes" });
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const save = async (minutes) => {
    try {
      const answer = await api("/response-target", { method: "PUT", json: { minutes } });
      target = answer.minutes;
      error.hidden = true;
      box.replaceWith(targetSection());
      ctx.refreshList();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
  box.append(
    el(
      "form",
      { class: "report-target-form", onsubmit: (event) => (event.preventDefault(), save(input.value === "" ? null : Number(input.value))) },
      input,
      el("button", { type: "submit", id: "report-target-save" }, "Save"),
      el("button", { type: "button", id: "report-target-clear", onclick: () => save(null) }, "No target"),
    ),
    error,
  );
  return box;
}

async function load() {
  const params = query();
  const mine = ++seq;
  const body = page.querySelector(".reports-body");
  const csv = page.querySelector("#report-csv");
  csv.href = `${API}/reports.csv?${params}`;
  try {
    const [byDay, byAgent] = await Promise.all([api(`/reports?${params}&group_by=day`), api(`/reports?${params}&group_by=agent`)]);
    if (mine !== seq) return;
    page.querySelector(".reports-error").hidden = true;
    page.querySelector("#report-period").textContent = `${byDay.from} – ${byDay.to} (${byDay.timezone})`;
    body.replaceChildren(
      tiles(byDay.totals),
      el(
        "div",
        { class: "report-charts" },
        barChart(
          "First response by day",
          byDay.groups,
          [
            { name: "Median", class: "s-median", value: (g) => g.first_response.median_seconds },
            { name: "90th percentile", class: "s-p90", value: (g) => g.first_response.p90_seconds },
          ],
          duration,
          "chart-first-response",
        ),
        barChart(
          "Messages by day",
          byDay.groups,
          [
            { name: "In", class: "s-in", value: (g) => g.messages_in },
            { name: "Out", class: "s-out", value: (g) => g.messages_out },
          ],
          (v) => String(Math.round(v)),
          "chart-messages",
        ),
      ),
      el("div", { class: "report-tables" }, el("div", { class: "report-table-wrap" }, agentTable(byAgent.groups)), el("div", { class: "report-table-wrap" }, splitTable(byDay.totals))),
      targetSection(),
    );
  } catch (e) {
    if (mine !== seq) return;
    const box = page.querySelector(".reports-error");
    box.textContent = e.message;
    box.hidden = false;
  }
}

function picker() {
  const from = el("input", { type: "date", id: "report-from", "aria-label": "From" });
  const to = el("input", { type: "date", id: "report-to", "aria-label": "To" });
  const custom = el("span", { class: "report-custom", hidden: true }, from, " – ", to, el("button", { type: "button", id: "report-apply", onclick: () => ((period = { days: null, from: from.value, to: to.value }), load()) }, "Show"));
  const select = el(
    "select",
    {
      id: "report-range",
      "aria-label": "Period",
      onchange: () => {
        custom.hidden = select.value !== "custom";
        if (select.value !== "custom") {
          period = { days: Number(select.value), from: null, to: null };
          load();
        }
      },
    },
    el("option", { value: "7" }, "Last 7 days"),
    el("option", { value: "30" }, "Last 30 days"),
    el("option", { value: "custom" }, "Custom…"),
  );
  return el("div", { class: "report-picker" }, select, custom);
}

function toggle(open) {
  page.hidden = !open;
  document.body.classList.toggle("reports-open", open);
  $("reports-open").setAttribute("aria-pressed", String(open));
  if (open) load();
}

export function init(context) {
  ctx = context;
  ctx.addListBadge(dueBadge);
  page = el(
    "section",
    { id: "reports-page", class: "reports-page", "aria-label": "Reports", hidden: true },
    el(
      "header",
      { class: "reports-head" },
      el("h2", {}, "Reports"),
      el("span", { id: "report-period", class: "hint" }),
      picker(),
      el("a", { id: "report-csv", class: "button-link", href: `${API}/reports.csv`, download: "" }, "Download CSV"),
      el("button", { type: "button", id: "reports-close", class: "link-button", onclick: () => toggle(false) }, "← Back to the inbox"),
    ),
    el("p", { class: "form-error reports-error", role: "alert", hidden: true }),
    el("div", { class: "reports-body" }),
  );
  document.querySelector(".app").after(page);
  ctx.addTopbarItem(el("button", { type: "button", id: "reports-open", class: "link-button", "aria-pressed": "false", onclick: () => toggle(page.hidden) }, "Reports"));
  api("/response-target")
    .then((answer) => {
      target = answer.minutes;
      document.querySelectorAll(".due-chip").forEach(paintDue);
    })
    .catch(console.warn);
  api("/me")
    .then((me) => {
      admin = me.agent === null || me.agent.role === "admin";
    })
    .catch(console.warn);
  setInterval(() => document.querySelectorAll(".due-chip").forEach(paintDue), 30000);
}
