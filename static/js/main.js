// wa-inbox dashboard: vanilla JS over the agent API, live through Server-Sent Events; ES modules,
// no build step (README.md in this folder says which module does what).
// Rule: everything a customer sent (names, text, file names) reaches the page through textContent or
// attribute values only, never as HTML. dom.js's el() is the only way nodes are made.

import * as actions from "./actions.js";
import * as agentActions from "./agent_actions.js";
import { api } from "./api.js";
import * as businessHours from "./business_hours.js";
import * as canned from "./canned.js";
import * as composer from "./composer.js";
import * as contact from "./contact.js";
import { $, el } from "./dom.js";
import * as hooks from "./hooks.js";
import * as keyboard from "./keyboard.js";
import * as labels from "./labels.js";
import * as list from "./list.js";
import * as live from "./live.js";
import * as notes from "./notes.js";
import * as presence from "./presence.js";
import * as settings from "./settings.js";
import * as notifications from "./notify.js";
import * as reports from "./reports.js";
import { refreshAccount } from "./signals.js";
import { myId, state } from "./state.js";
import * as team from "./team.js";
import * as templates from "./templates.js";
import * as thread from "./thread.js";
import * as typing from "./typing.js";
import * as url from "./url.js";

// Feature modules: each exports init(ctx). Add yours here, one line each.
const FEATURES = [
  notes,
  labels,
  canned,
  contact,
  agentActions,
  team,
  notifications,
  presence,
  businessHours,
  typing,
  reports,
];

// What a feature module gets: the shared state, the API client, node building, and the hooks.
export const ctx = {
  state,
  myId,
  api,
  el,
  $,
  ...hooks,
  refreshList: () => list.refreshList(),
  refreshThread: () => thread.refreshThreadLive(),
  openConversation: (id) => thread.openConversation(id),
  syncUrl: (how = "push") => url.syncUrl(how),
  renderHead: () => thread.renderHead(),
  showError: (text) => composer.showSendError(text),
  notify: (kind, conversation, text) => notifications.notify(kind, conversation, text),
};

async function start() {
  for (const module of [list, composer, thread, actions, templates, keyboard, live, url]) module.init();
  for (const feature of FEATURES) {
    try {
      feature.init(ctx);
    } catch (error) {
      console.warn("feature init", error);
    }
  }
  settings.init();
  try {
    const log = await api("/events?after=0&limit=1");
    state.lastEventId = log.last_event_id;
  } catch (error) {
    console.warn(error);
  }
  await Promise.all([list.loadAgents().catch(console.warn), url.applyUrl(true), refreshAccount()]);
  live.connect();
  document.body.dataset.ready = "true";
}

start();
