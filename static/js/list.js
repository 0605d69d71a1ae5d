import { api } from "./api.js";
import { $, coalesced, debounce, el, highlighted } from "./dom.js";
import { agentName, displayName, identityLine, initials, isGroup, longTime, shortTime } from "./format.js";
import { hooks } from "./hooks.js";
import { state } from "./state.js";
import { openConversation } from "./thread.js";
import { syncUrl } from "./url.js";

// --- conversation list -------------------------------------------------------------------

export const refreshList = coalesced(async () => {
  const params = new URLSearchParams({ filter: state.filter, limit: "100" });
  if (state.q) params.set("q", state.q);
  for (const add of hooks.listParams) add(params);
  const answer = await api(`/conversations?${params}`);
  state.conversations = answer.conversations;
  state.counts = answer.counts || {};
  document.title = state.counts.unread ? `(${state.counts.unread}) Inbox · wa-inbox` : "Inbox · wa-inbox";
  renderList();
  for (const after of hooks.listLoaded) after(answer);
});

// What an empty tab says: each tab holds only what its name says (closed ones are in Closed only).
const EMPTY = {
  open: "No open conversations.",
  unread: "No open conversation has unread messages.",
  mine: "No open conversation is assigned to you.",
  unassigned: "Every open conversation has an agent.",
  closed: "No closed conversations.",
};

export function renderList() {
  const list = $("conversation-list");
  const focusedId = document.activeElement && list.contains(document.activeElement)
    ? document.activeElement.closest("li")?.dataset.id : null;
  list.replaceChildren(...state.conversations.map(listItem));
  $("list-empty").hidden = state.conversations.length > 0;
  $("list-empty").textContent = state.q ? `No conversation in this tab matches “${state.q}”.` : EMPTY[state.filter] || "No conversations here.";
  for (const span of document.querySelectorAll("[data-count]")) {
    const n = state.counts[span.dataset.count];
    span.textContent = n ? String(n) : "";
  }
  if (focusedId) list.querySelector(`li[data-id="${CSS.escape(focusedId)}"] button`)?.focus();
}

export function listItem(c) {
  const name = displayName(c);
  const unread = c.unread_count || 0;
  const agent = agentName(c.assigned_agent_id);
  const preview = c.snippet ? highlighted(c.snippet) : c.last_message || "";
  const button = el(
    "button",
    {
      type: "button",
      class: "conv" + (unread ? " unread" : ""),
      "aria-current": c.id === state.currentId ? "true" : null,
      onclick: () => openConversation(c.id).catch(console.warn),
    },
    el("span", { class: "avatar" + (isGroup(c) ? " group" : ""), "aria-hidden": "true" }, initials(name)),
    el(
      "span",
      { class: "conv-main" },
      el(
        "span",
        { class: "conv-top" },
        el("span", { class: "conv-name" }, name),
        el("time", { class: "conv-time", datetime: c.last_message_at, title: longTime(c.last_message_at) }, shortTime(c.last_message_at)),
      ),
      el("span", { class: "conv-sub" }, identityLine(c)),
      el(
        "span",
        { class: "conv-bottom" },
        el("span", { class: "conv-preview" }, preview),
        unread ? el("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)) : null,
      ),
      el(
        "span",
        { class: "conv-tags" },
        el("span", { class: `status-chip ${c.status}` }, c.status),
        isGroup(c) ? el("span", { class: "group-chip" }, "Group") : null,
        agent ? el("span", { class: "agent-chip" }, agent) : el("span", { class: "agent-chip none" }, "Unassigned"),
        hooks.listBadges.map((badge) => badge(c)),
      ),
    ),
  );
  return el("li", { dataset: { id: String(c.id) } }, button, hooks.listItemParts.map((part) => part(c)));
}

export function markTabs() {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.filter === state.filter));
  }
}

export function setFilter(filter) {
  state.filter = filter;
  markTabs();
  syncUrl("push");
  refreshList();
}

export async function loadAgents() {
  const answer = await api("/agents");
  state.agents = new Map(answer.agents.map((a) => [a.id, a.name]));
}

export function init() {
  for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => setFilter(tab.dataset.filter));
  $("search").addEventListener(
    "input",
    debounce(() => {
      state.q = $("search").value.trim();
      syncUrl("replace");
      refreshList();
    }, 250),
  );
}
