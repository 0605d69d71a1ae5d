// Agent actions (issue 15): react to a message (an emoji picker on each bubble), retry a failed send,
// mark a conversation unread, snooze it until a time (presets or a custom time; a "Snoozed" tab), and
// select several conversations in the list to assign, close or reopen them at once (the bulk bar).

import { loadAgents, refreshList, setFilter } from "./list.js";
import { displayName, longTime } from "./format.js";

export const EMOJIS = ["👍", "❤️", "😂", "😮", "😢", "🙏", "✅", "🎉"];

let ctx = null;
const selected = new Set(); // conversation ids ticked in the list

// --- the API's times ("YYYY-MM-DD HH:MM:SS", UTC) ------------------------------------------------

function fromApi(stamp) {
  return new Date(stamp.replace(" ", "T") + "Z");
}

export function snoozeLabel(stamp) {
  const when = fromApi(stamp);
  const today = new Date();
  const sameDay = when.toDateString() === today.toDateString();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${when.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${time}`;
}

// Preset snooze times, in the agent's own time zone.
export function presets(now = new Date()) {
  const at = (days, hour) => {
    const d = new Date(now);
    d.setDate(d.getDate() + days);
    d.setHours(hour, 0, 0, 0);
    return d;
  };
  const nextMonday = (8 - now.getDay()) % 7 || 7;
  return [
    ["1 hour", new Date(now.getTime() + 3600e3)],
    ["3 hours", new Date(now.getTime() + 3 * 3600e3)],
    ["Tomorrow 9:00", at(1, 9)],
    ["Next Monday 9:00", at(nextMonday, 9)],
  ];
}

// --- messages: react, retry --------------------------------------------------------------------

function latest(m) {
  return ctx.state.messages.find((x) => x.id === m.id) || m;
}

async function react(m, emoji, picker) {
  picker.hidden = true;
  try {
    await ctx.api(`/messages/${m.id}/react`, { method: "POST", json: { emoji } });
  } catch (error) {
    ctx.showError(`The reaction was not sent: ${error.message}`);
  }
  ctx.refreshThread();
}

function reactControl(m) {
  if (!m.whatsapp_message_id || m.type === "system" || m.deleted) return null;
  const mine = (latest(m).reactions || []).find((r) => r.direction === "outbound");
  const picker = ctx.el(
    "span",
    { class: "emoji-picker", role: "group", "aria-label": "Pick a reaction", hidden: true },
    EMOJIS.map((emoji) =>
      ctx.el("button", { type: "button", class: "emoji", "aria-label": `React ${emoji}`, onclick: () => react(latest(m), emoji, picker) }, emoji),
    ),
    mine ? ctx.el("button", { type: "button", class: "emoji remove", onclick: () => react(latest(m), "", picker) }, "Remove") : null,
  );
  const toggle = ctx.el(
    "button",
    {
      type: "button",
      class: "react-btn",
      "aria-label": "React to this message",
      title: "React",
      "aria-expanded": "false",
      onclick: () => {
        picker.hidden = !picker.hidden;
        toggle.setAttribute("aria-expanded", String(!picker.hidden));
        if (!picker.hidden) picker.querySelector("button")?.focus();
      },
    },
    "☺",
  );
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      picker.hidden = true;
      toggle.focus();
    }
  });
  return ctx.el("span", { class: "react-box" }, toggle, picker);
}

function retryControl(m) {
  if (m.direction !== "outbound" || m.status !== "failed" || m.origin) return null;
  if (m.retried_by) return ctx.el("span", { class: "retried" }, "Sent again below");
  const button = ctx.el(
    "button",
    {
      type: "button",
      class: "retry-btn",
      title: "Send this message again, as a new message",
      onclick: async () => {
        button.disabled = true; // a double click sends once (the server also makes sure)
        try {
          await ctx.api(`/messages/${m.id}/retry`, { method: "POST" });
        } catch (error) {
          ctx.showError(`Not sent again: ${error.message}`);
          button.disabled = false;
        }
        ctx.refreshThread();
      },
    },
    "Retry",
  );
  return button;
}

// --- the conversation: mark unread, snooze -------------------------------------------------------

function leaveThread() {
  // Out of this conversation, so that opening it (or coming back to the tab) does not mark it read again.
  ctx.state.currentId = null;
  ctx.state.current = null;
  ctx.$("thread").hidden = true;
  ctx.$("no-thread").hidden = false;
  document.body.classList.remove("thread-open");
}

async function conversationAction(path, body = {}) {
  const id = ctx.state.currentId;
  try {
    const answer = await ctx.api(path, { method: "POST", json: { conversation_id: id, ...body } });
    if (ctx.state.currentId === id && answer.conversation) {
      ctx.state.current = answer.conversation;
      ctx.renderHead();
    }
    return answer;
  } catch (error) {
    ctx.showError(error.message);
    return null;
  } finally {
    refreshList();
  }
}

function headControls() {
  const unread = ctx.el(
    "button",
    {
      type: "button",
      id: "mark-unread",
      title: "Mark unread: it stays in the Unread tab until someone opens it again",
      onclick: async () => {
        if (await conversationAction("/mark-unread")) leaveThread();
      },
    },
    "Mark unread",
  );
  ctx.addHeadPart(unread, () => {});

  const chip = ctx.el("span", { id: "snoozed-chip", class: "status-chip snoozed", hidden: true });
  const custom = ctx.el("input", { type: "datetime-local", id: "snooze-custom", "aria-label": "Snooze until (your time)" });
  const menu = ctx.el(
    "div",
    { id: "snooze-menu", class: "snooze-menu", role: "group", "aria-label": "Snooze until", hidden: true },
    presets().map(([label]) => ctx.el("button", { type: "button", class: "snooze-preset", dataset: { preset: label } }, label)),
    ctx.el(
      "span",
      { class: "snooze-custom" },
      custom,
      ctx.el("button", { type: "button", id: "snooze-custom-go" }, "Snooze"),
    ),
  );
  const snooze = async (when) => {
    menu.hidden = true;
    if (!(when instanceof Date) || Number.isNaN(when.getTime())) {
      ctx.showError("Choose when the conversation comes back.");
      return;
    }
    await conversationAction("/snooze", { until: when.toISOString().replace(/\.\d{3}Z$/, "Z") });
  };
  menu.addEventListener("click", (event) => {
    const preset = event.target.closest("[data-preset]");
    if (preset) snooze(new Map(presets()).get(preset.dataset.preset));
  });
  menu.querySelector("#snooze-custom-go").addEventListener("click", () => snooze(custom.value ? new Date(custom.value) : null));
  const toggle = ctx.el(
    "button",
    {
      type: "button",
      id: "snooze",
      "aria-expanded": "false",
      "aria-controls": "snooze-menu",
      onclick: () => {
        const c = ctx.state.current;
        if (c && c.snoozed_until) {
          conversationAction("/unsnooze");
          return;
        }
        menu.hidden = !menu.hidden;
        toggle.setAttribute("aria-expanded", String(!menu.hidden));
      },
    },
    "Snooze",
  );
  const box = ctx.el("span", { class: "snooze-box" }, chip, toggle, menu);
  let shownFor = null;
  ctx.addHeadPart(box, (c) => {
    const asleep = Boolean(c.snoozed_until);
    chip.hidden = !asleep;
    chip.textContent = asleep ? `Snoozed until ${snoozeLabel(c.snoozed_until)}` : "";
    if (asleep) chip.title = longTime(c.snoozed_until);
    toggle.textContent = asleep ? "Unsnooze" : "Snooze";
    toggle.hidden = c.status === "closed";
    // A live refresh of the same conversation leaves an open menu open; another conversation closes it.
    if (shownFor !== c.id || asleep || toggle.hidden) {
      menu.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
    }
    shownFor = c.id;
  });
}

function snoozedTab() {
  const tabs = document.querySelector(".tabs[role=tablist]");
  if (!tabs || tabs.querySelector('[data-filter="snoozed"]')) return;
  const tab = ctx.el(
    "button",
    { role: "tab", "aria-controls": "conversation-list", "data-filter": "snoozed", "aria-selected": "false" },
    "Snoozed ",
    ctx.el("span", { class: "count", dataset: { count: "snoozed" } }),
  );
  tab.addEventListener("click", () => setFilter("snoozed"));
  const closed = tabs.querySelector('[data-filter="closed"]');
  tabs.insertBefore(tab, closed ? closed.nextSibling : null);
  // Snoozed conversations come back by themselves when their time passes: look again now and then.
  setInterval(() => {
    if (ctx.state.counts.snoozed || ctx.state.filter === "snoozed") refreshList();
  }, 30000);
}

// --- several conversations at once ---------------------------------------------------------------

let barQueued = false;

function queueBar() {
  if (barQueued) return;
  barQueued = true;
  queueMicrotask(() => {
    barQueued = false;
    renderBar();
  });
}

function visibleSelection() {
  const shown = new Set(ctx.state.conversations.map((c) => c.id));
  return [...selected].filter((id) => shown.has(id));
}

function renderBar() {
  const bar = ctx.$("bulk-bar");
  if (!bar) return;
  const ids = visibleSelection();
  for (const id of [...selected]) if (!ids.includes(id)) selected.delete(id);
  bar.hidden = ids.length === 0;
  ctx.$("bulk-count").textContent = `${ids.length} selected`;
  const assign = ctx.$("bulk-assign");
  // Rebuilt only when the agents changed (this runs with every list refresh; an open menu stays open).
  const agentsSig = JSON.stringify([...ctx.state.agents]);
  if (assign._sig === agentsSig) return;
  assign._sig = agentsSig;
  const options = [ctx.el("option", { value: "" }, "Assign to…"), ctx.el("option", { value: "none" }, "Nobody (unassign)")];
  for (const [id, name] of ctx.state.agents) options.push(ctx.el("option", { value: String(id) }, id === ctx.myId ? `${name} (you)` : name));
  assign.replaceChildren(...options);
}

async function bulk(action, agentId) {
  const ids = visibleSelection();
  if (!ids.length) return;
  const json = { conversation_ids: ids, action };
  if (action === "assign") json.agent_id = agentId;
  const status = ctx.$("bulk-result");
  try {
    const answer = await ctx.api("/bulk", { method: "POST", json });
    const done = { assign: "assigned", unassign: "unassigned", close: "closed", reopen: "reopened" }[action];
    status.textContent = `${answer.changed} ${done}` + (answer.failed ? `, ${answer.failed} not changed` : "");
    selected.clear();
  } catch (error) {
    status.textContent = `Nothing changed: ${error.message}`;
  }
  await refreshList();
  renderBar();
}

function bulkBar() {
  const bar = ctx.el(
    "div",
    { id: "bulk-bar", class: "bulk-bar", role: "toolbar", "aria-label": "Selected conversations", hidden: true },
    ctx.el("span", { id: "bulk-count", class: "bulk-count" }),
    ctx.el("select", { id: "bulk-assign", "aria-label": "Assign the selected conversations to" }),
    ctx.el("button", { type: "button", id: "bulk-close", onclick: () => bulk("close") }, "Close"),
    ctx.el("button", { type: "button", id: "bulk-reopen", onclick: () => bulk("reopen") }, "Reopen"),
    ctx.el(
      "button",
      {
        type: "button",
        class: "link-button",
        id: "bulk-clear",
        onclick: () => {
          selected.clear();
          for (const box of document.querySelectorAll(".select-conv")) box.checked = false;
          renderBar();
        },
      },
      "Clear",
    ),
  );
  const result = ctx.el("p", { id: "bulk-result", class: "bulk-result", role: "status", "aria-live": "polite" });
  const tools = document.querySelector(".list-tools");
  tools.after(bar, result);
  ctx.$("bulk-assign").addEventListener("change", (event) => {
    const value = event.target.value;
    if (value === "") return;
    event.target.value = ""; // back to "Assign to…", so the same choice can be made again
    if (value === "none") bulk("unassign");
    else bulk("assign", Number(value));
  });
  ctx.addListItemPart((c) => {
    queueBar();
    return ctx.el("input", {
      type: "checkbox",
      class: "select-conv",
      "aria-label": `Select ${displayName(c)}`,
      checked: selected.has(c.id),
      onchange: (event) => {
        if (event.target.checked) selected.add(c.id);
        else selected.delete(c.id);
        ctx.$("bulk-result").textContent = "";
        renderBar();
      },
    });
  });
  // The list keeps the items whose rows did not change (list.js), checkboxes and all: after each load,
  // tick exactly the selected ones (a bulk action or a conversation leaving the tab empties the selection).
  ctx.addListQuery(
    () => {},
    () => {
      renderBar();
      for (const box of document.querySelectorAll("#conversation-list .select-conv")) {
        const ticked = selected.has(Number(box.closest("li").dataset.id));
        if (box.checked !== ticked) box.checked = ticked;
      }
    },
  );
  // "Snoozed · 14:00" or "Snoozed · Tue 3 Mar 14:00": the label depends on today's date too.
  ctx.addListBadge(
    (c) => (c.snoozed_until ? ctx.el("span", { class: "snooze-chip" }, `Snoozed · ${snoozeLabel(c.snoozed_until)}`) : null),
    (c) => (c.snoozed_until ? snoozeLabel(c.snoozed_until) : ""),
  );
}

export function init(context) {
  ctx = context;
  ctx.addMessageAction({
    name: "react",
    sig: (m) => JSON.stringify([m.whatsapp_message_id, m.type, m.deleted, (m.reactions || []).filter((r) => r.direction === "outbound")]),
    build: reactControl,
  });
  ctx.addMessageAction({
    name: "retry",
    sig: (m) => JSON.stringify([m.direction, m.status, m.retried_by, m.origin]),
    build: retryControl,
  });
  headControls();
  snoozedTab();
  bulkBar();
  // An agent created on the settings page can be assigned to at once.
  window.addEventListener("wa-inbox:agents-changed", () => loadAgents().then(renderBar).catch(console.warn));
}
