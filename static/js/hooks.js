// Extension points: how a feature module (labels, notes, contact panel...) hooks into the inbox
// without editing the shell's renderers. See README.md. Every hook is a list; the shell calls each
// entry where it renders. Entries build nodes with el() only (never HTML from data).

export const hooks = {
  listBadges: [], // (conversation) -> Node | null: shown in the list item's tag row
  listItemParts: [], // (conversation) -> Node | null: in the list item, beside its button (e.g. a checkbox)
  listSigs: [], // (conversation) -> string: what else a list badge or part shows (the item is rebuilt when it changes)
  headParts: [], // { node, update(conversation) }: node sits in the thread header's buttons
  threadSources: [], // { name, load(conversationId), time(item), key(item), sig(item), render(item) }
  messageActions: [], // { name, sig(message), build(message) -> Node | null }: one more control per bubble
  events: [], // (event) -> void: every event of the live stream, after the shell's own handling
  notify: [], // (kind, conversation, text) -> void: a notification was raised (notify.js)
  settings: [], // { id, title, render(container) }: a section of the settings dialog
  urlParams: [], // { name, read() -> string | null, apply(value | null) }: list filters kept in the URL
  composerState: [], // (conversation, open) -> void: after the shell set the composer for the window
  listParams: [], // (URLSearchParams) -> void: add to the conversation list's query (e.g. label=)
  listLoaded: [], // (answer) -> void: each GET /conversations answer, after the list rendered
  beforeSend: [], // async (conversation) -> false to cancel: asked in turn before a reply or file is sent
};

// A list filter of a feature (e.g. ?label=3) kept in the address like the tab and the search:
// read() gives the current value (null: none), apply(value) sets it from the address before the list
// loads (on start and back/forward). Call ctx.syncUrl() after the agent changes it, then refreshList().
export function addUrlParam(param) {
  hooks.urlParams.push(param);
}

// A badge per conversation in the list (e.g. its labels). fn(c) returns a node or null.
// The list is keyed: fn(c) runs when the item is (re)built, i.e. when the conversation's row (its JSON)
// changed; if the badge also shows something else (the time of day, a module's own state), pass
// sig(c) -> string saying what, and the item is rebuilt when that changes too.
export function addListBadge(fn, sig = null) {
  hooks.listBadges.push(fn);
  if (sig) hooks.listSigs.push(sig);
}

// A control of each list item outside its button (e.g. a checkbox to select it). fn(c) returns a node or null.
// Built with the item (see addListBadge; sig(c) as there). The node is kept while the item is, so the
// control's own state (checked, focus, an open menu) lives on across refreshes.
export function addListItemPart(fn, sig = null) {
  hooks.listItemParts.push(fn);
  if (sig) hooks.listSigs.push(sig);
}

// A control in the open conversation's header: `node` is placed once, update(c) runs on each render.
export function addHeadPart(node, update = () => {}) {
  const box = document.querySelector(".thread-head .actions");
  if (box) box.insertBefore(node, document.getElementById("block-conv"));
  hooks.headParts.push({ node, update });
}

// Items other than messages in the thread (e.g. private notes), placed among the messages by time.
// source = { name, load: async (conversationId) => items, time: (item) => "YYYY-MM-DD HH:MM:SS",
//            key: (item) => string, sig: (item) => string, render: (item) => Node }
// load() runs with every refresh of the open thread; the node of an item whose sig did not change is kept.
export function addThreadSource(source) {
  hooks.threadSources.push(source);
}

// A per-message control (e.g. "React", "Retry"): action = { name, sig: (m) => string, build: (m) => Node|null }.
// build() runs again only when sig(m) changes; it appears after the bubble's reply button.
export function addMessageAction(action) {
  hooks.messageActions.push(action);
}

// Every live event (store.common.emit), e.g. to refresh a panel. The shell already refreshes the list,
// and the open thread when event.conversation_id is the open one.
export function onEvent(fn) {
  hooks.events.push(fn);
}

// A settings section: a "Settings" button shows in the top bar once one is added; the dialog calls
// render(container) each time it opens, on an emptied container.
export function addSettingsSection(section) {
  hooks.settings.push(section);
  const button = document.getElementById("settings-open");
  if (button) button.hidden = false;
}

// The conversation list's request and answer: fn(params) adds query parameters (a filter of its own),
// after(answer) sees each answer once the list is rendered (e.g. counts of its own).
export function addListQuery(fn, after = () => {}) {
  hooks.listParams.push(fn);
  hooks.listLoaded.push(after);
}

// A node in the top bar, before "Sign out".
export function addTopbarItem(node) {
  const bar = document.querySelector(".topbar");
  if (bar) bar.insertBefore(node, bar.querySelector("form.signout"));
}

// After the shell enabled or disabled the composer for the 24-hour window (renderWindow), e.g. a
// private note that may be written whether the window is open or not. fn(conversation, open).
export function onComposerState(fn) {
  hooks.composerState.push(fn);
}

// Asked before the composer sends a reply or a file (not a private note): fn(conversation) may be async
// (e.g. an inline "Send anyway?"); returning false cancels the send and the draft stays in the box.
export function addBeforeSend(fn) {
  hooks.beforeSend.push(fn);
}

// Every beforeSend check in turn; false when one cancelled (a check that throws does not block sending).
export async function sendAllowed(conversation) {
  for (const check of hooks.beforeSend) {
    try {
      if ((await check(conversation)) === false) return false;
    } catch (error) {
      console.warn("beforeSend hook", error);
    }
  }
  return true;
}
