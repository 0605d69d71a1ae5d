// Private notes: a "Reply" / "Private note" toggle in the composer, notes in the thread among the
// messages (yellow, "Private note by Ana"), a "Mentions" view in the list pane, and a notification
// when someone @mentions me. Notes never go to WhatsApp (POST /notes); text only, through el().

import { autosize, draftSent, hideSendError, showSendError } from "./composer.js";
import { $, el, forgetOthers, keyedNode, placeChildren } from "./dom.js";
import { clock, displayName, longTime, shortTime } from "./format.js";
import { hooks } from "./hooks.js";

let ctx = null;
let mode = "reply"; // or "note": what the composer's Send does
const view = { open: false, unread: 0 };
const mentionNodes = new Map(); // mention id -> its <li> in the Mentions view

// --- the composer toggle ---------------------------------------------------------------------

function setMode(next) {
  mode = next;
  const note = mode === "note";
  const form = $("composer");
  form.classList.toggle("note-mode", note);
  for (const button of document.querySelectorAll("#compose-mode button")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  $("send").textContent = note ? "Add note" : "Send";
  $("attach").hidden = note;
  $("template-open").hidden = note;
  $("reply").setAttribute("aria-label", note ? "Private note" : "Message");
  if (ctx.state.current) ctx.renderHead(); // the shell sets the box for the window, then composerState
  else composerState(null, false);
  $("reply").focus();
}

// A note may be written whether or not WhatsApp's 24-hour window is open (nothing is sent).
function composerState(conversation, open) {
  if (mode !== "note") return;
  $("reply").disabled = false;
  $("send").disabled = false;
  $("reply").placeholder = 'Private note: only agents see it. @Ana or @"Ana Souza" tells them';
  void conversation;
  void open;
}

async function writeNote() {
  const id = ctx.state.currentId;
  const body = $("reply").value.trim();
  if (!body || id === null) return;
  hideSendError();
  $("send").disabled = true;
  try {
    await ctx.api("/notes", { method: "POST", json: { conversation_id: id, body } });
    draftSent(id, body);
    autosize();
  } catch (error) {
    if (id === ctx.state.currentId) showSendError(error.offline ? "Note not saved: can't reach the inbox server." : error.message);
  } finally {
    $("send").disabled = false;
    if (id === ctx.state.currentId) await ctx.refreshThread();
  }
}

function interceptSend() {
  // Capturing on the document runs before the shell's own listeners on the form and the textarea.
  document.addEventListener(
    "submit",
    (event) => {
      if (mode !== "note" || event.target.id !== "composer") return;
      event.preventDefault();
      event.stopImmediatePropagation();
      writeNote();
    },
    true,
  );
  document.addEventListener(
    "keydown",
    (event) => {
      if (mode !== "note" || event.target.id !== "reply") return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        event.stopImmediatePropagation();
        writeNote();
      }
    },
    true,
  );
}

function buildToggle() {
  const toggle = el(
    "div",
    { id: "compose-mode", class: "compose-mode", role: "group", "aria-label": "Composer mode" },
    el("button", { type: "button", "data-mode": "reply", "aria-pressed": "true", onclick: () => setMode("reply") }, "Reply"),
    el("button", { type: "button", "data-mode": "note", "aria-pressed": "false", onclick: () => setMode("note") }, "Private note"),
  );
  const form = $("composer");
  form.parentNode.insertBefore(toggle, form);
}

// --- notes in the thread ---------------------------------------------------------------------

// The body as text, each @mention of a known agent as a <mark> (still text, never HTML).
function bodyNodes(note) {
  const names = (note.mentions || []).map((m) => m.name).filter(Boolean);
  if (!names.length) return [note.body];
  const parts = [];
  const pattern = /@"[^"\n]+"|@[^\s@,.;:!?]+/gu;
  let last = 0;
  for (const match of note.body.matchAll(pattern)) {
    parts.push(note.body.slice(last, match.index));
    parts.push(el("mark", { class: "mention" }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(note.body.slice(last));
  return parts;
}

function renderNote(note) {
  const mine = note.agent_id !== null && note.agent_id === ctx.myId;
  const author = mine ? "you" : note.agent_name || "the service";
  return el(
    "li",
    { class: "note", dataset: { noteId: String(note.id) }, "aria-label": `Private note by ${author}` },
    el("span", { class: "note-by" }, `Private note by ${author}`),
    el("p", { class: "text" }, bodyNodes(note)),
    el(
      "span",
      { class: "meta" },
      el("time", { datetime: note.timestamp, title: longTime(note.timestamp) }, clock(note.timestamp)),
      mine
        ? el("button", { type: "button", class: "link-button note-delete", onclick: () => deleteNote(note) }, "Delete")
        : null,
    ),
  );
}

async function deleteNote(note) {
  try {
    await ctx.api(`/notes/${note.id}`, { method: "DELETE" });
  } catch (error) {
    showSendError(error.message);
  }
  await ctx.refreshThread();
}

// --- the Mentions view -----------------------------------------------------------------------

function setUnread(count) {
  view.unread = count;
  $("mentions-count").textContent = count ? String(count) : "";
}

function mentionItem(m) {
  const who = displayName(m.conversation);
  return el(
    "li",
    { class: m.read ? "mention-item" : "mention-item unread", dataset: { mentionId: String(m.id) } },
    el(
      "button",
      { type: "button", onclick: () => openMention(m) },
      el("span", { class: "conv-name" }, who),
      el("time", { class: "conv-time", datetime: m.created_at }, shortTime(m.created_at)),
      el("span", { class: "mention-text" }, `${m.note.agent_name || "The service"}: ${m.note.body}`),
    ),
  );
}

async function loadMentions() {
  const data = await ctx.api("/mentions?limit=50");
  setUnread(data.unread);
  if (!view.open) return data;
  // Keyed by mention id: a new mention adds its item, the others keep theirs (and the focus).
  const box = $("mentions-list");
  const focused = box.contains(document.activeElement) ? document.activeElement : null;
  const nodes = data.mentions.map((m) => keyedNode(mentionNodes, m.id, JSON.stringify([m, shortTime(m.created_at)]), () => mentionItem(m)));
  placeChildren(box, nodes);
  forgetOthers(mentionNodes, nodes);
  if (focused && document.activeElement !== focused) {
    const li = focused.isConnected ? null : mentionNodes.get(Number(focused.closest("li")?.dataset.mentionId));
    (focused.isConnected ? focused : li?.querySelector("button"))?.focus({ preventScroll: true });
  }
  $("mentions-empty").hidden = data.mentions.length > 0;
  return data;
}

async function openMention(m) {
  if (!m.read) {
    try {
      const done = await ctx.api("/mentions/read", { method: "POST", json: { mention_ids: [m.id] } });
      setUnread(done.unread);
    } catch (error) {
      console.warn(error);
    }
  }
  showMentions(false);
  await ctx.openConversation(m.conversation.id);
}

function showMentions(open) {
  view.open = open;
  $("mentions-view").hidden = !open;
  document.querySelector(".list-pane").classList.toggle("mentions-mode", open);
  $("mentions-open").setAttribute("aria-pressed", String(open));
  if (open) {
    loadMentions().catch(console.warn);
  } else {
    ctx.refreshList();
  }
}

function buildMentionsView() {
  const button = el(
    "button",
    { type: "button", id: "mentions-open", class: "mentions-open", "aria-pressed": "false", onclick: () => showMentions(!view.open) },
    "Mentions ",
    el("span", { class: "count", id: "mentions-count" }),
  );
  document.querySelector(".list-tools").append(button);
  const panel = el(
    "section",
    { id: "mentions-view", class: "mentions-view", "aria-label": "Mentions of me", hidden: true },
    el(
      "div",
      { class: "mentions-head" },
      el("h2", {}, "Mentions of me"),
      el("button", { type: "button", class: "link-button", onclick: markAllRead }, "Mark all read"),
      el("button", { type: "button", class: "link-button", onclick: () => showMentions(false) }, "Back to conversations"),
    ),
    el("ul", { id: "mentions-list", class: "conversation-list" }),
    el("p", { id: "mentions-empty", class: "empty", hidden: true }, "Nobody has mentioned you yet."),
  );
  $("conversation-list").after(panel);
  // Choosing a tab goes back to the conversations.
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) tab.addEventListener("click", () => view.open && showMentions(false));
}

async function markAllRead() {
  const done = await ctx.api("/mentions/read", { method: "POST", json: {} });
  setUnread(done.unread);
  await loadMentions();
}

// --- live: a mention of me -------------------------------------------------------------------

function raise(kind, conversation, text) {
  if (typeof ctx.notify === "function") {
    ctx.notify(kind, conversation, text);
    return;
  }
  // No notify.js on this page: tell the listeners and show the line in the page itself.
  for (const fn of hooks.notify) {
    try {
      fn(kind, conversation, text);
    } catch (error) {
      console.warn("notify hook", error);
    }
  }
  const toast = el("div", { class: "note-toast", role: "status" }, text);
  document.body.append(toast);
  setTimeout(() => toast.remove(), 8000);
}

async function mentioned(event) {
  const data = await loadMentions();
  const m = data.mentions.find((x) => x.note.id === event.note_id) || data.mentions[0];
  if (!m) return;
  const body = m.note.body.length > 140 ? `${m.note.body.slice(0, 139)}…` : m.note.body;
  raise("mention", m.conversation, `${m.note.agent_name || "Someone"} mentioned you in ${displayName(m.conversation)}: ${body}`);
}

function onEvent(event) {
  if (event.kind === "mention.created" && event.agent_id === ctx.myId) mentioned(event).catch(console.warn);
}

// --- wiring ----------------------------------------------------------------------------------

export function init(context) {
  ctx = context;
  buildToggle();
  buildMentionsView();
  interceptSend();
  ctx.onComposerState(composerState);
  ctx.addThreadSource({
    name: "notes",
    load: async (id) => (await ctx.api(`/notes?conversation_id=${id}`)).notes,
    time: (note) => note.timestamp,
    key: (note) => String(note.id),
    sig: (note) => JSON.stringify([note.body, note.agent_name, note.mentions]),
    render: renderNote,
  });
  ctx.onEvent(onEvent);
  if (Number.isFinite(ctx.myId)) loadMentions().catch(console.warn);
}
