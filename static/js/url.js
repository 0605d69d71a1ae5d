// Links that last: the open conversation is the path (/inbox/c/<id>), the tab and search are the query
// (?filter=mine&q=ana), so reload, back/forward and a pasted link land where the agent was.
// Moving to another conversation or tab adds a history entry; typing in the search replaces it.

import { $ } from "./dom.js";
import { hooks } from "./hooks.js";
import { markTabs, refreshList } from "./list.js";
import { state } from "./state.js";
import { leaveConversation, openConversation } from "./thread.js";

export const TABS = ["open", "unread", "mine", "unassigned", "closed"];

// What the address asks for: { id, filter, q, params: {name: value} of the feature parameters }.
export function readUrl(loc = window.location) {
  const match = /^\/inbox\/c\/(\d+)\/?$/.exec(loc.pathname);
  const query = new URLSearchParams(loc.search);
  const filter = query.get("filter") === "all" ? "open" : query.get("filter"); // "all": the tab's older name
  const params = {};
  for (const param of hooks.urlParams) params[param.name] = query.get(param.name);
  return {
    id: match ? Number(match[1]) : null,
    filter: TABS.includes(filter) ? filter : "open",
    q: (query.get("q") || "").trim(),
    params,
  };
}

// The address of what the page shows now.
export function currentUrl() {
  const query = new URLSearchParams();
  if (state.filter !== "open") query.set("filter", state.filter);
  if (state.q) query.set("q", state.q);
  for (const param of hooks.urlParams) {
    const value = param.read();
    if (value !== null && value !== undefined && value !== "") query.set(param.name, String(value));
  }
  const path = state.currentId === null ? "/inbox" : `/inbox/c/${state.currentId}`;
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

// Record what the page shows: how = "push" (a new history entry), "replace", or "none".
export function syncUrl(how = "push") {
  if (how === "none") return;
  const url = currentUrl();
  if (url === window.location.pathname + window.location.search) return;
  if (how === "push") window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

// Show what the address says (at start, and on back/forward); resolves once the list is loaded.
export async function applyUrl(first = false) {
  const view = readUrl();
  const listChanged = first || view.filter !== state.filter || view.q !== state.q ||
    hooks.urlParams.some((p) => (p.read() || null) !== (view.params[p.name] || null));
  state.filter = view.filter;
  state.q = view.q;
  if ($("search").value.trim() !== view.q) $("search").value = view.q;
  for (const param of hooks.urlParams) param.apply(view.params[param.name]);
  markTabs();
  const list = listChanged ? refreshList() : Promise.resolve();
  if (view.id !== null && view.id !== state.currentId) openConversation(view.id, "none").catch(console.warn);
  else if (view.id === null && state.currentId !== null) leaveConversation();
  await list;
  syncUrl("replace"); // e.g. ?filter=nonsense becomes /inbox
}

export function init() {
  window.addEventListener("popstate", () => applyUrl().catch(console.warn));
}
