import { API, api, connection } from "./api.js";
import { moveDraft } from "./composer.js";
import { $, debounce } from "./dom.js";
import { hooks } from "./hooks.js";
import { loadAgents, refreshList } from "./list.js";
import { refreshAccount, refreshAccountSoon } from "./signals.js";
import { state } from "./state.js";
import { markRead, openConversation, refreshThreadLive } from "./thread.js";

// --- live updates: the event stream (Server-Sent Events) -------------------------------------

export function setLive(mode, text) {
  const badge = $("live");
  badge.dataset.state = mode;
  badge.textContent = text;
}

// One event of the stream: the shell's own handling, then every feature's (hooks.onEvent).
export function handleEvent(event) {
  shellEvent(event);
  for (const fn of hooks.events) {
    try {
      fn(event);
    } catch (error) {
      console.warn("event hook", error);
    }
  }
}

function shellEvent(event) {
  if (event.kind === "account.updated") {
    // A template may have been paused or approved: the dialog lists them again when next opened.
    state.templates = null;
    refreshAccountSoon();
    return;
  }
  if (event.kind === "activity.updated") return; // who is viewing or typing (typing.js): nothing to reload
  refreshListSoon();
  if (event.kind === "conversation.merged" && event.merged_from === state.currentId) {
    // The open thread was folded into another of the same customer's: follow it there.
    moveDraft(event.merged_from, event.conversation_id);
    openConversation(event.conversation_id, "replace").catch(console.warn);
    return;
  }
  if (event.kind === "history.imported") {
    // A chunk of imported chat history may hold messages of any thread, the open one too.
    refreshThreadLive();
    return;
  }
  if (event.conversation_id !== null && event.conversation_id === state.currentId) {
    refreshThreadLive().then(() => {
      if (state.current && state.current.unread_count > 0 && document.visibilityState === "visible") markRead();
    });
  }
}

export const refreshListSoon = debounce(() => refreshList(), 120);

export function connect() {
  if (state.source) state.source.close();
  const after = state.lastEventId !== null ? `?after=${state.lastEventId}` : "";
  const source = new EventSource(`${API}/events/stream${after}`);
  state.source = source;
  source.onopen = () => setLive("live", "Live");
  // The server ends the stream when this session is signed out elsewhere, or the agent deactivated.
  source.addEventListener("revoked", () => {
    source.close();
    window.location.assign("/login");
  });
  // Resumed from before the oldest event kept (events are pruned after EVENTS_RETENTION_DAYS):
  // what was missed cannot be replayed, so reload what is shown.
  source.addEventListener("gap", () => {
    refreshList();
    refreshThreadLive();
    refreshAccount();
  });
  source.onmessage = (message) => {
    const id = Number(message.lastEventId);
    if (Number.isFinite(id)) state.lastEventId = id;
    try {
      handleEvent(JSON.parse(message.data));
    } catch (error) {
      console.warn("bad event", error);
    }
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the server answered an error): check we are signed in, retry.
      setLive("offline", "Offline, retrying…");
      source.close();
      setTimeout(async () => {
        try {
          await api("/me");
        } catch (_) {
          /* api() sends us to /login on 401, and raises the banner when the server is unreachable */
        }
        if (state.source !== source) return; // reconnected meanwhile (the server came back)
        connect();
        refreshList();
        refreshThreadLive();
      }, 3000);
    } else {
      setLive("reconnecting", "Reconnecting…");
      // Is the server down, or only the stream? api() raises the banner if it is the server.
      if (!state.offline) api("/me").catch(() => {});
    }
  };
}

export function init() {
  connection.offline = () => setLive("offline", "Offline");
  connection.back = () => {
    if (!state.source || state.source.readyState === EventSource.CLOSED) connect();
    else if (state.source.readyState === EventSource.OPEN) setLive("live", "Live");
    else setLive("reconnecting", "Reconnecting…");
    // Catch up on what happened meanwhile.
    if (!state.agents.size) loadAgents().catch(console.warn);
    refreshList();
    refreshThreadLive();
  };
}
