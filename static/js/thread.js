import { PAGE, api } from "./api.js";
import { autosize, cancelReply, draftOf, hideSendError, moveDraft, setDraft, showSendError, startReply } from "./composer.js";
import { content, inquiry, productOf, referralCard, referralOf, systemLine } from "./content.js";
import { $, coalesced, el } from "./dom.js";
import { agentName, clock, displayName, identityLine, isGroup, longTime, parseTime, senderName } from "./format.js";
import { hooks } from "./hooks.js";
import { markCurrent } from "./list.js";
import { myId, state } from "./state.js";
import { syncUrl } from "./url.js";

// --- one conversation --------------------------------------------------------------------

let threadSeq = 0;

// Opens conversation `id`; how = "push" | "replace" | "none": what it does to the address (url.js).
export async function openConversation(id, how = "push") {
  const previous = state.currentId;
  if (previous !== null && previous !== id) setDraft(previous, $("reply").value);
  state.currentId = id;
  state.current = state.conversations.find((c) => c.id === id) || null;
  state.members = [];
  state.extra.clear();
  state.messages = [];
  state.older = [];
  state.moreOlder = false;
  $("thread-missing").hidden = true;
  syncUrl(how);
  if (previous !== id) {
    $("reply").value = draftOf(id);
    autosize();
  }
  cancelReply();
  hideSendError();
  document.body.classList.add("thread-open");
  $("no-thread").hidden = true;
  $("thread").hidden = false;
  $("messages").replaceChildren();
  state.nodes.clear();
  if (state.bubbleSizes) state.bubbleSizes.disconnect();
  state.pinned = true;
  hideNewMessages();
  markCurrent();
  if (state.current) renderHead();
  await refreshThread({ toBottom: true });
  if (state.current && state.current.unread_count > 0) markRead();
  $("reply").disabled ? $("messages").focus() : $("reply").focus();
}

// No conversation open (the address is /inbox again, or the conversation is gone).
export function leaveConversation() {
  if (state.currentId !== null) setDraft(state.currentId, $("reply").value);
  state.currentId = null;
  state.current = null;
  state.messages = [];
  state.extra.clear();
  $("thread").hidden = true;
  $("no-thread").hidden = false;
  document.body.classList.remove("thread-open");
  markCurrent();
}

export function closeThreadView() {
  document.body.classList.remove("thread-open");
  const li = $("conversation-list").querySelector(`li[data-id="${state.currentId}"] button`);
  if (li) li.focus();
}

export const refreshThread = async (options = {}) => {
  const id = state.currentId;
  if (id === null) return;
  const seq = ++threadSeq;
  try {
    const [conv, thread, ...extras] = await Promise.all([
      api(`/conversation?conversation_id=${id}`),
      api(`/messages?conversation_id=${id}&limit=${PAGE}`),
      ...hooks.threadSources.map((source) => loadSource(source, id)),
    ]);
    if (seq !== threadSeq || id !== state.currentId) return;
    const members = isGroup(conv.conversation) ? (await api(`/participants?conversation_id=${id}`)).participants : [];
    if (seq !== threadSeq || id !== state.currentId) return;
    state.current = conv.conversation;
    state.members = members;
    hooks.threadSources.forEach((source, i) => state.extra.set(source.name, extras[i]));
    const latest = new Set(thread.messages.map((m) => m.id));
    // After "Load earlier", keep every message already shown that the newest page no longer covers.
    const kept = state.older.length ? state.messages.filter((m) => !latest.has(m.id)) : [];
    const known = new Set(state.messages.map((m) => m.id));
    const fresh = state.messages.length ? thread.messages.filter((m) => !known.has(m.id)) : [];
    const arrived = fresh.filter((m) => m.direction === "inbound");
    state.messages = kept.concat(thread.messages);
    if (fresh.length && !options.toBottom && !state.pinned) state.unseen += fresh.length;
    if (arrived.length) {
      // One short announcement for screen readers instead of re-reading the whole thread.
      const last = arrived[arrived.length - 1];
      const from = last.sender ? `${senderName(last.sender)} in ${displayName(conv.conversation)}` : displayName(conv.conversation);
      $("announce").textContent = `New message from ${from}: ${last.text || last.type}`;
    }
    if (!state.older.length) state.moreOlder = thread.messages.length === PAGE;
    if ($("send-error").dataset.kind === "load") hideSendError();
    renderHead();
    renderMessages(options.toBottom);
  } catch (error) {
    if (seq !== threadSeq || id !== state.currentId) return;
    if (error.status === 404 && error.body && error.body.merged_into) {
      // Folded into the same customer's other thread (its event may still be on its way): follow it.
      moveDraft(id, error.body.merged_into);
      openConversation(error.body.merged_into, "replace").catch(console.warn);
    } else if (error.status === 404) {
      leaveConversation();
      $("thread-missing").textContent = `Conversation ${id} does not exist (any more).`;
      $("thread-missing").hidden = false;
      syncUrl("replace");
    } else if (error.offline) {
      // The banner says so, and the thread refreshes when the server is back.
      if (!state.messages.length) {
        $("messages").replaceChildren(el("li", { class: "thread-wait" }, "The messages will show when the inbox server is back."));
      }
    } else {
      showSendError(`This conversation could not be loaded: ${error.message}`, "load");
    }
  }
};
export const refreshThreadLive = coalesced(() => refreshThread());

export async function loadOlder() {
  const id = state.currentId;
  if (id === null || !state.messages.length) return;
  const page = await api(`/messages?conversation_id=${id}&limit=${PAGE}&before_id=${state.messages[0].id}`);
  if (id !== state.currentId) return;
  const box = $("messages");
  const fromBottom = box.scrollHeight - box.scrollTop;
  state.older = page.messages.concat(state.older);
  state.moreOlder = page.messages.length === PAGE;
  state.messages = page.messages.concat(state.messages);
  renderMessages(false);
  box.scrollTop = box.scrollHeight - fromBottom;
}

export async function markRead() {
  const id = state.currentId;
  try {
    await api("/mark-read", { method: "POST", json: { conversation_id: id } });
  } catch (error) {
    console.warn("mark-read failed", error);
  }
}

export function renderHead() {
  const c = state.current;
  if (!c) return;
  $("thread-name").textContent = displayName(c);
  $("thread-sub").textContent = identityLine(c);
  const chip = $("thread-status");
  chip.textContent = c.status;
  chip.className = `status-chip ${c.status}`;
  renderAssign(c);
  $("take").hidden = c.assigned_agent_id === myId;
  $("close-conv").hidden = c.status === "closed";
  $("reopen-conv").hidden = c.status !== "closed";
  $("block-conv").hidden = Boolean(c.blocked);
  $("unblock-conv").hidden = !c.blocked;
  $("marketing-chip").hidden = !c.marketing_opt_out;
  for (const part of hooks.headParts) part.update(c);
  renderWindow(c);
}

export function renderAssign(c) {
  const select = $("assign");
  const options = [el("option", { value: "" }, "Unassigned")];
  const ids = new Set(state.agents.keys());
  if (c.assigned_agent_id !== null && !ids.has(c.assigned_agent_id)) ids.add(c.assigned_agent_id);
  for (const id of ids) {
    options.push(el("option", { value: String(id) }, id === myId ? `${state.agents.get(id) || "Me"} (you)` : agentName(id)));
  }
  // Rebuilt only when what it lists changed (this runs with each live refresh of the open thread, and a
  // menu the agent has open must stay open).
  const sig = JSON.stringify(options.map((o) => [o.value, o.textContent]));
  if (select._sig !== sig) {
    select._sig = sig;
    select.replaceChildren(...options);
  }
  const value = c.assigned_agent_id === null ? "" : String(c.assigned_agent_id);
  if (select.value !== value) select.value = value;
}

export function windowOpen(c) {
  if (!c.window_expires_at) return false;
  const closes = parseTime(c.window_expires_at);
  return Boolean(c.can_reply) && closes && closes > new Date();
}

// What a reply would cost, before it is sent (the server's reply_cost, by Meta's pricing rules).
export function renderCost(c, open) {
  const hint = $("cost-hint");
  const cost = c.reply_cost || {};
  const reply = open && !c.blocked ? cost.free_form : null;
  hint.hidden = !reply;
  if (!reply) return;
  hint.dataset.charged = String(Boolean(reply.charged));
  hint.textContent = `${reply.charged ? "Charged" : "Free"} · ${reply.note}`;
}

export function renderWindow(c) {
  const blocked = Boolean(c.blocked);
  const banner = $("blocked-banner");
  banner.hidden = !blocked;
  if (blocked) {
    banner.textContent = `This customer is blocked${c.blocked_at ? ` (since ${longTime(c.blocked_at)})` : ""}: they cannot message you, and nothing can be sent to them until you unblock them.`;
  }
  const open = windowOpen(c) && !blocked;
  const notice = $("window-notice");
  notice.hidden = open || blocked;
  if (!open) {
    if (isGroup(c)) {
      // Meta's rule for groups: any participant's message opens the window for the whole group.
      notice.textContent = c.window_expires_at
        ? `The group's 24-hour window closed ${longTime(c.window_expires_at)}. WhatsApp only allows an approved template until someone in the group writes again.`
        : "Nobody in the group has written yet, so WhatsApp only allows an approved template.";
    } else {
      notice.textContent = c.window_expires_at
        ? `The 24-hour window closed ${longTime(c.window_expires_at)}. WhatsApp only allows an approved template until the customer writes again.`
        : "The customer has not written yet, so WhatsApp only allows an approved template.";
    }
  }
  $("reply").disabled = !open;
  $("attach").disabled = !open;
  $("send").disabled = !open;
  $("template-open").disabled = blocked;
  $("reply").placeholder = blocked
    ? "The customer is blocked"
    : open ? (isGroup(c) ? "Message the group" : "Type a message") : "Only templates can be sent now";
  renderCost(c, open);
  for (const fn of hooks.composerState) fn(c, open);
}

// --- messages ------------------------------------------------------------------------------
// The thread is keyed: each message's <li> lives as long as the message is shown, and a refresh
// changes only the parts of a bubble whose data changed (a tick never restarts a playing voice
// note or reloads a photo).

// The node for `key`: the one already shown while `sig` is unchanged, else a new one from build().
export function keyed(key, sig, build) {
  const old = state.nodes.get(key);
  if (old && old._sig === sig) return old;
  const node = build();
  node._sig = sig;
  state.nodes.set(key, node);
  return node;
}

// Make parent's children exactly `nodes`, in order, without detaching the nodes that stay.
export function reconcile(parent, nodes) {
  const keep = new Set(nodes);
  for (const child of Array.from(parent.childNodes)) if (!keep.has(child)) child.remove();
  nodes.forEach((node, i) => {
    const at = parent.childNodes[i];
    if (at !== node) parent.insertBefore(node, at || null);
  });
}

export function atBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
}

export function scrollToBottom() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  state.pinned = true;
  hideNewMessages();
}

export function showNewMessages() {
  const button = $("new-messages");
  button.textContent = state.unseen === 1 ? "1 new message ↓" : `${state.unseen} new messages ↓`;
  button.hidden = false;
}

export function hideNewMessages() {
  state.unseen = 0;
  $("new-messages").hidden = true;
}

// A thread source's items for conversation `id`; a source that fails shows nothing rather than
// keeping the thread from loading.
async function loadSource(source, id) {
  try {
    return (await source.load(id)) || [];
  } catch (error) {
    console.warn(`thread source ${source.name}`, error);
    return state.extra.get(source.name) || [];
  }
}

// The messages, with the thread sources' items (hooks.js) placed among them by time: an item goes
// before the first message that is later than it. Items older than the first message shown wait
// for "Load earlier" while there are earlier messages.
function threadEntries() {
  const extras = [];
  for (const source of hooks.threadSources) {
    for (const item of state.extra.get(source.name) || []) {
      const time = source.time(item);
      const key = `x:${source.name}:${source.key(item)}`;
      extras.push({ time, at: parseTime(time), node: () => keyed(key, source.sig(item), () => source.render(item)) });
    }
  }
  const messages = state.messages.map((m) => ({ time: m.timestamp, at: parseTime(m.timestamp), node: () => bubble(m) }));
  if (!extras.length) return messages;
  extras.sort((a, b) => (a.at || 0) - (b.at || 0));
  const first = messages.length ? messages[0].at : null;
  const entries = [];
  let i = 0;
  if (state.moreOlder && first) while (i < extras.length && extras[i].at && extras[i].at < first) i++;
  for (const m of messages) {
    while (i < extras.length && extras[i].at && m.at && extras[i].at < m.at) entries.push(extras[i++]);
    entries.push(m);
  }
  while (i < extras.length) entries.push(extras[i++]);
  return entries;
}

export function renderMessages(toBottom) {
  const box = $("messages");
  const pinned = toBottom || state.pinned;
  let lastDay = null;
  const items = [];
  if (state.moreOlder) {
    items.push(
      keyed("older", "", () =>
        el("li", { class: "older" }, el("button", { type: "button", onclick: () => loadOlder().catch(console.warn) }, "Load earlier messages")),
      ),
    );
  }
  for (const entry of threadEntries()) {
    const date = parseTime(entry.time);
    const day = date ? date.toDateString() : "";
    if (day !== lastDay) {
      const label = date ? date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", year: "numeric" }) : "";
      items.push(keyed(`day:${day}`, label, () => el("li", { class: "day", role: "separator" }, label)));
      lastDay = day;
    }
    items.push(entry.node());
  }
  reconcile(box, items);
  const shown = new Set(items);
  for (const [key, node] of state.nodes) {
    if (shown.has(node)) continue;
    state.nodes.delete(key);
    if (state.bubbleSizes) state.bubbleSizes.unobserve(node);
  }
  if (pinned) scrollToBottom();
  else if (state.unseen) showNewMessages();
}

export const TICKS = {
  pending: ["🕓", "Sending"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  played: ["✓✓", "Played"],
  failed: ["!", "Failed"],
};

export function ticks(m) {
  const [symbol, label] = m.outcome_unknown ? ["?", "Outcome unknown"] : TICKS[m.status] || ["", m.status];
  return el("span", { class: `ticks ${m.status}`, "data-status": m.status, title: label, "aria-label": label }, symbol);
}

export function failureText(error) {
  if (!error) return "WhatsApp did not deliver this message.";
  const parts = [error.title, error.details].filter(Boolean);
  const code = error.code !== null && error.code !== undefined ? ` (code ${error.code})` : "";
  return (parts.join(": ") || "WhatsApp did not deliver this message") + code;
}

// Coexistence: messages that did not go through this inbox, but through the WhatsApp Business app on the same number.
export const ORIGINS = {
  business_app: "Sent from the WhatsApp Business app",
  history: "Imported from the WhatsApp Business app's chat history",
};

// A bubble's parts, in order: [name, signature of the data it shows, build() -> node or null].
export function bubbleParts(m) {
  const outbound = m.direction === "outbound";
  const who = m.quoted && m.quoted.direction !== "outbound" ? displayName(state.current) : "You";
  const by = outbound && m.agent_id !== null && m.agent_id !== undefined ? agentName(m.agent_id) : null;
  return [
    ["sender", JSON.stringify(m.sender || null), () => (m.sender ? el("span", { class: "sender" }, senderName(m.sender)) : null)],
    [
      "quoted",
      JSON.stringify([m.quoted, m.reply_to, who, Boolean(productOf(m))]),
      () => {
        if (m.quoted) {
          return el(
            "blockquote",
            { class: "quoted" },
            el("span", { class: "quoted-who" }, who),
            el("span", { class: "quoted-text" }, m.quoted.text || `[${m.quoted.type}]`),
          );
        }
        // A product inquiry's context points at the catalog message, not at one of ours: "Asked about" says it.
        if (m.reply_to && !productOf(m)) {
          return el("blockquote", { class: "quoted" }, el("span", { class: "quoted-text" }, "Reply to a message not in this inbox"));
        }
        return null;
      },
    ],
    ["inquiry", JSON.stringify(productOf(m)), () => inquiry(productOf(m))],
    ["referral", JSON.stringify(referralOf(m)), () => referralCard(referralOf(m))],
    ["forwarded", String(Boolean(m.forwarded)), () => (m.forwarded ? el("p", { class: "forwarded" }, "Forwarded") : null)],
    ["origin", String(m.origin || ""), () => (ORIGINS[m.origin] ? el("p", { class: "origin" }, ORIGINS[m.origin]) : null)],
    [
      "content",
      JSON.stringify([m.type, m.direction, m.text, m.media, m.placeholder, m.location, m.content]),
      () => content(m),
    ],
    [
      "reactions",
      JSON.stringify(m.reactions || []),
      () =>
        m.reactions && m.reactions.length
          ? el(
            "span",
            { class: "reactions", "aria-label": "Reactions" },
            m.reactions.map((r) => el("span", { class: "reaction", title: r.direction === "inbound" ? "Customer" : "You" }, r.emoji)),
          )
          : null,
    ],
    [
      "failed",
      JSON.stringify([outbound && m.status === "failed", m.error]),
      () => (outbound && m.status === "failed" ? el("p", { class: "failed-reason" }, "Not delivered: " + failureText(m.error)) : null),
    ],
    [
      "unknown",
      String(Boolean(outbound && m.outcome_unknown)),
      () =>
        outbound && m.outcome_unknown
          ? el(
            "p",
            { class: "unknown-outcome" },
            "WhatsApp's answer was lost: this message may or may not have been sent. Its ticks show here " +
              "as soon as WhatsApp reports it; check before sending it again.",
          )
          : null,
    ],
    [
      "meta",
      JSON.stringify([m.edited, m.previous_texts, m.deleted, by, m.timestamp, outbound && m.status, m.outcome_unknown]),
      () =>
        el(
          "span",
          { class: "meta" },
          m.edited ? el("span", { class: "edited", title: (m.previous_texts || []).join("\n") }, "edited") : null,
          m.deleted ? el("span", { class: "deleted-note" }, outbound ? "deleted" : "deleted by the customer") : null,
          by ? el("span", { class: "by" }, by) : null,
          el("time", { datetime: m.timestamp, title: longTime(m.timestamp) }, clock(m.timestamp)),
          outbound ? ticks(m) : null,
        ),
    ],
    [
      "reply",
      String(Boolean(m.whatsapp_message_id)),
      () =>
        m.whatsapp_message_id
          ? el("button", {
            type: "button",
            class: "reply-btn",
            "aria-label": "Reply to this message",
            title: "Reply",
            onclick: () => startReply(state.messages.find((x) => x.id === m.id) || m),
          }, "↩")
          : null,
    ],
    // Feature modules' per-message controls (hooks.js addMessageAction).
    ...hooks.messageActions.map((action) => [`action:${action.name}`, action.sig(m), () => action.build(m)]),
  ];
}


export function bubble(m) {
  const key = `m:${m.id}`;
  let li = state.nodes.get(key);
  if (!li) {
    li = el("li", { dataset: { id: String(m.id) } });
    li._parts = {};
    state.nodes.set(key, li);
    if (state.bubbleSizes) state.bubbleSizes.observe(li);
  }
  li.className = `msg ${m.direction === "outbound" ? "out" : "in"}${m.deleted ? " deleted" : ""}${systemLine(m) ? " system" : ""}`;
  const nodes = [];
  for (const [name, sig, build] of bubbleParts(m)) {
    let part = li._parts[name];
    if (!part || part.sig !== sig) {
      part = { sig, node: build() };
      li._parts[name] = part;
    }
    if (part.node) nodes.push(part.node);
  }
  reconcile(li, nodes);
  return li;
}

export function init() {
  const box = $("messages");
  let lastTop = 0;
  box.addEventListener(
    "scroll",
    () => {
      // Unpinned only by moving up: a scroll event that content growing (or the browser's scroll
      // anchoring) causes while we are pinned must not let the newest message slip out of view.
      if (atBottom(box)) state.pinned = true;
      else if (box.scrollTop < lastTop - 1) state.pinned = false;
      lastTop = box.scrollTop;
      if (state.pinned) hideNewMessages();
    },
    { passive: true },
  );
  // A photo or video that finishes loading grows the thread: keep the newest message in view.
  const keepPinned = () => {
    if (state.pinned && !atBottom(box)) box.scrollTop = box.scrollHeight;
  };
  for (const type of ["load", "loadedmetadata", "error"]) box.addEventListener(type, keepPinned, true);
  if (window.ResizeObserver) state.bubbleSizes = new ResizeObserver(keepPinned);
  $("new-messages").addEventListener("click", scrollToBottom);
  $("back").addEventListener("click", closeThreadView);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.current && state.current.unread_count > 0) markRead();
  });
  // The window can close while the page is open.
  setInterval(() => state.current && renderWindow(state.current), 30000);
}
