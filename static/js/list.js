import { api } from "./api.js";
import { $, coalesced, debounce, el, forgetOthers, highlighted, keyedNode, placeChildren } from "./dom.js";
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

// The list is keyed by conversation id: a refresh keeps the <li> of every conversation whose signature
// (its row as the API gave it, plus what else the item shows) did not change, rebuilds only the others,
// moves the kept ones into the new order (only those out of place) and drops the gone ones. So focus,
// hover, a ticked checkbox and the scroll position live on, and an event costs one item, not a hundred.
const items = new Map(); // conversation id -> its <li>

// A feature added later (a new badge or part) rebuilds every item once: the hook counts are part of it.
export function itemSig(c) {
  const extra = hooks.listSigs.map((sig) => sig(c));
  return JSON.stringify([c, agentName(c.assigned_agent_id), shortTime(c.last_message_at), hooks.listBadges.length, hooks.listItemParts.length, extra]);
}

// aria-current on the open conversation's button: set in place, so opening another one touches two items.
export function markCurrent() {
  for (const li of $("conversation-list").children) {
    const button = li.firstElementChild;
    if (!button) continue;
    const current = Number(li.dataset.id) === state.currentId;
    if ((button.getAttribute("aria-current") === "true") !== current) button.setAttribute("aria-current", String(current));
  }
}

// Where the focus is inside the list: the item's id and the child indexes from the <li> down to it.
function focusInside(list) {
  const active = document.activeElement;
  const li = active && active !== list && list.contains(active) ? active.closest("li") : null;
  if (!li) return null;
  const path = [];
  for (let node = active; node !== li; node = node.parentElement) path.unshift(Array.prototype.indexOf.call(node.parentElement.children, node));
  return { active, id: li.dataset.id, path };
}

function restoreFocus(list, focus) {
  if (!focus || document.activeElement === focus.active) return;
  if (focus.active.isConnected) {
    focus.active.focus({ preventScroll: true }); // moved without moveBefore
    return;
  }
  // Its item was rebuilt: the same place in the new one, or else the item's button.
  const li = items.get(Number(focus.id));
  if (!li || !li.isConnected) return;
  let node = li;
  for (const i of focus.path) node = node && node.children[i];
  (node && node.matches("button, input, select, textarea, a[href], [tabindex]") ? node : li.firstElementChild)?.focus({ preventScroll: true });
}

export function renderList() {
  const list = $("conversation-list");
  const focus = focusInside(list);
  const nodes = state.conversations.map((c) => keyedNode(items, c.id, itemSig(c), () => listItem(c)));
  placeChildren(list, nodes);
  forgetOthers(items, nodes);
  markCurrent();
  $("list-empty").hidden = state.conversations.length > 0;
  $("list-empty").textContent = state.q ? `No conversation in this tab matches “${state.q}”.` : EMPTY[state.filter] || "No conversations here.";
  for (const span of document.querySelectorAll("[data-count]")) {
    const n = state.counts[span.dataset.count];
    const text = n ? String(n) : "";
    if (span.textContent !== text) span.textContent = text;
  }
  restoreFocus(list, focus);
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
