// wa-inbox dashboard: vanilla JS over the agent API, live through Server-Sent Events.
// Rule: everything a customer sent (names, text, file names) reaches the page through textContent or
// attribute values only, never as HTML. el() below is the only way nodes are made.
"use strict";

(() => {
  const API = "/api/whatsapp";
  const PAGE = 100;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const myId = Number(document.querySelector('meta[name="agent-id"]').content);
  const $ = (id) => document.getElementById(id);

  const state = {
    filter: "all",
    q: "",
    conversations: [],
    counts: {},
    currentId: null,
    current: null,
    messages: [],
    older: [],
    moreOlder: false,
    agents: new Map(),
    templates: null,
    replyTo: null,
    lastEventId: null,
    source: null,
    drafts: new Map(), // conversation id -> the reply being typed there
    sending: new Set(), // conversation ids with a send on its way
    nodes: new Map(), // "m:<id>", "day:<date>", "older" -> its node in the thread, kept across refreshes
    pinned: true, // the agent is at the newest message: keep it in view
    unseen: 0, // messages that arrived while the agent was scrolled up
    offline: false,
    newChat: null, // the number a contact card's "Open chat" is starting a conversation with (template dialog)
    members: [], // the open group conversation's participants (GET /participants)
  };

  // --- helpers ---------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, options = {}) {
    const init = { method: options.method || "GET", headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (init.method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    Object.assign(init.headers, options.headers || {});
    if (options.json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    } else if (options.form) {
      init.body = options.form;
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (_) {
      throw unreachable();
    }
    const json = (response.headers.get("Content-Type") || "").includes("application/json");
    if (!json && [502, 503, 504].includes(response.status)) throw unreachable(); // a proxy with no service behind it
    reachable();
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("You have been signed out");
    }
    if (!response.ok || (body && body.success === false)) {
      const error = new Error((body && body.error) || `The server answered ${response.status}`);
      error.status = response.status;
      error.body = body;
      throw error;
    }
    return body;
  }

  // --- the server going away and coming back ------------------------------------------------

  const UNREACHABLE = "Can't reach the inbox server.";
  const NOT_SENT = "Not sent: can't reach the inbox server. Your message is kept here; send it again once the server is back.";
  let probeTimer = null;
  let probeDelay = 2000;

  function unreachable() {
    const error = new Error(UNREACHABLE);
    error.offline = true;
    if (!state.offline) {
      state.offline = true;
      $("offline").hidden = false;
      setLive("offline", "Offline");
    }
    if (probeTimer === null) probeTimer = setTimeout(probe, probeDelay);
    return error;
  }

  // Every few seconds while the server is unreachable: ask it who we are; reachable() does the rest.
  async function probe() {
    probeTimer = null;
    try {
      await api("/me");
      probeDelay = 2000;
    } catch (error) {
      if (error.offline) probeDelay = Math.min(probeDelay * 2, 15000);
    }
  }

  function reachable() {
    if (!state.offline) return;
    state.offline = false;
    probeDelay = 2000;
    clearTimeout(probeTimer);
    probeTimer = null;
    $("offline").hidden = true;
    if (!state.source || state.source.readyState === EventSource.CLOSED) connect();
    else if (state.source.readyState === EventSource.OPEN) setLive("live", "Live");
    else setLive("reconnecting", "Reconnecting…");
    // Catch up on what happened meanwhile.
    if (!state.agents.size) loadAgents().catch(console.warn);
    refreshList();
    refreshThreadLive();
  }

  function parseTime(text) {
    if (!text) return null;
    const date = new Date(text.replace(" ", "T") + "Z");
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function clock(text) {
    const date = parseTime(text);
    return date ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function shortTime(text) {
    const date = parseTime(text);
    if (!date) return "";
    const today = new Date();
    if (date.toDateString() === today.toDateString()) return clock(text);
    return date.toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function longTime(text) {
    const date = parseTime(text);
    return date ? date.toLocaleString() : "";
  }

  function displayName(c) {
    if (!c) return "";
    return (
      c.contact_name || c.contact_profile_name || (c.username ? "@" + c.username : null) ||
      c.phone_number || c.user_id || `Conversation ${c.id}`
    );
  }

  function isGroup(c) {
    return Boolean(c) && c.kind === "group";
  }

  // Who wrote a group message: their profile name, else their number or BSUID.
  function senderName(sender) {
    return sender.name || sender.phone_number || sender.user_id || "A participant";
  }

  function identityLine(c) {
    if (isGroup(c)) {
      const here = isGroup(state.current) && state.current.id === c.id ? state.members.filter((p) => p.state === "member") : [];
      if (!here.length) return "WhatsApp group";
      const names = here.map((p) => p.name || p.phone_number || p.user_id);
      return `WhatsApp group · ${here.length} ${here.length === 1 ? "participant" : "participants"}: ${names.join(", ")}`;
    }
    const parts = [];
    if (c.phone_number) parts.push(c.phone_number);
    if (c.username) parts.push("@" + c.username);
    if (!parts.length && c.user_id) parts.push(c.user_id);
    return parts.join(" · ");
  }

  function initials(name) {
    const letters = Array.from(String(name).replace(/[^\p{L}\p{N} ]/gu, "").trim());
    const words = letters.join("").split(/\s+/).filter(Boolean);
    const text = words.length > 1 ? Array.from(words[0])[0] + Array.from(words[1])[0] : letters.slice(0, 2).join("");
    return (text || "#").toUpperCase();
  }

  function agentName(id) {
    if (id === null || id === undefined) return null;
    if (id === myId) return "You";
    return state.agents.get(id) || `Agent #${id}`;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // Runs `task` now, or once more after the running one when asked again meanwhile.
  function coalesced(task) {
    let running = false;
    let again = false;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await task();
      } catch (error) {
        console.warn(error);
      } finally {
        running = false;
        if (again) {
          again = false;
          run();
        }
      }
    };
    return run;
  }

  // Text with the search snippet's **bold** markers as <mark>, everything else as text.
  function highlighted(text) {
    return String(text).split("**").map((part, i) => (i % 2 ? el("mark", {}, part) : part));
  }

  // --- conversation list -------------------------------------------------------------------

  const refreshList = coalesced(async () => {
    const params = new URLSearchParams({ filter: state.filter, limit: "100" });
    if (state.q) params.set("q", state.q);
    const answer = await api(`/conversations?${params}`);
    state.conversations = answer.conversations;
    state.counts = answer.counts || {};
    document.title = state.counts.unread ? `(${state.counts.unread}) Inbox · wa-inbox` : "Inbox · wa-inbox";
    renderList();
  });

  function renderList() {
    const list = $("conversation-list");
    const focusedId = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.closest("li")?.dataset.id : null;
    list.replaceChildren(...state.conversations.map(listItem));
    $("list-empty").hidden = state.conversations.length > 0;
    for (const span of document.querySelectorAll("[data-count]")) {
      const n = state.counts[span.dataset.count];
      span.textContent = n ? String(n) : "";
    }
    if (focusedId) list.querySelector(`li[data-id="${CSS.escape(focusedId)}"] button`)?.focus();
  }

  function listItem(c) {
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
        ),
      ),
    );
    return el("li", { dataset: { id: String(c.id) } }, button);
  }

  function setFilter(filter) {
    state.filter = filter;
    for (const tab of document.querySelectorAll("[role=tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.filter === filter));
    }
    refreshList();
  }

  // --- one conversation --------------------------------------------------------------------

  let threadSeq = 0;

  // --- drafts: each conversation keeps its own, in memory and in this tab's sessionStorage ----

  const draftKey = (id) => `wa-inbox:draft:${myId}:${id}`;

  function draftOf(id) {
    if (id === null) return "";
    if (state.drafts.has(id)) return state.drafts.get(id);
    let text = "";
    try {
      text = sessionStorage.getItem(draftKey(id)) || "";
    } catch (_) {
      /* storage disabled: memory only */
    }
    state.drafts.set(id, text);
    return text;
  }

  function setDraft(id, text) {
    if (id === null) return;
    state.drafts.set(id, text);
    try {
      if (text) sessionStorage.setItem(draftKey(id), text);
      else sessionStorage.removeItem(draftKey(id));
    } catch (_) {
      /* storage full or disabled: memory only */
    }
  }

  // After a send: clear the conversation's draft unless the agent went on typing there meanwhile.
  function draftSent(id, text) {
    if (draftOf(id).trim() === text) setDraft(id, "");
    if (id === state.currentId) {
      $("reply").value = draftOf(id);
      autosize();
    }
  }

  // A thread folded into another of the same customer's: its draft goes along.
  function moveDraft(from, to) {
    const text = from === state.currentId ? $("reply").value : draftOf(from);
    if (text && !draftOf(to)) setDraft(to, text);
    setDraft(from, "");
    if (from === state.currentId) $("reply").value = "";
  }

  // Signing out leaves no customer's draft behind in the tab.
  function forgetDrafts() {
    state.drafts.clear();
    try {
      const prefix = "wa-inbox:draft:";
      for (const key of Object.keys(sessionStorage)) if (key.startsWith(prefix)) sessionStorage.removeItem(key);
    } catch (_) {
      /* storage disabled: nothing kept */
    }
  }

  async function openConversation(id) {
    const previous = state.currentId;
    if (previous !== null && previous !== id) setDraft(previous, $("reply").value);
    state.currentId = id;
    state.current = state.conversations.find((c) => c.id === id) || null;
    state.members = [];
    state.messages = [];
    state.older = [];
    state.moreOlder = false;
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
    if (bubbleSizes) bubbleSizes.disconnect();
    state.pinned = true;
    hideNewMessages();
    for (const li of $("conversation-list").children) {
      li.firstChild.setAttribute("aria-current", String(Number(li.dataset.id) === id));
    }
    if (state.current) renderHead();
    await refreshThread({ toBottom: true });
    if (state.current && state.current.unread_count > 0) markRead();
    $("reply").disabled ? $("messages").focus() : $("reply").focus();
  }

  function closeThreadView() {
    document.body.classList.remove("thread-open");
    const li = $("conversation-list").querySelector(`li[data-id="${state.currentId}"] button`);
    if (li) li.focus();
  }

  const refreshThread = async (options = {}) => {
    const id = state.currentId;
    if (id === null) return;
    const seq = ++threadSeq;
    try {
      const [conv, thread] = await Promise.all([
        api(`/conversation?conversation_id=${id}`),
        api(`/messages?conversation_id=${id}&limit=${PAGE}`),
      ]);
      if (seq !== threadSeq || id !== state.currentId) return;
      const members = isGroup(conv.conversation) ? (await api(`/participants?conversation_id=${id}`)).participants : [];
      if (seq !== threadSeq || id !== state.currentId) return;
      state.current = conv.conversation;
      state.members = members;
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
        openConversation(error.body.merged_into).catch(console.warn);
      } else if (error.status === 404) {
        setDraft(id, $("reply").value);
        state.currentId = null;
        $("thread").hidden = true;
        $("no-thread").hidden = false;
        document.body.classList.remove("thread-open");
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
  const refreshThreadLive = coalesced(() => refreshThread());

  async function loadOlder() {
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

  async function markRead() {
    const id = state.currentId;
    try {
      await api("/mark-read", { method: "POST", json: { conversation_id: id } });
    } catch (error) {
      console.warn("mark-read failed", error);
    }
  }

  function renderHead() {
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
    renderWindow(c);
  }

  function renderAssign(c) {
    const select = $("assign");
    const options = [el("option", { value: "" }, "Unassigned")];
    const ids = new Set(state.agents.keys());
    if (c.assigned_agent_id !== null && !ids.has(c.assigned_agent_id)) ids.add(c.assigned_agent_id);
    for (const id of ids) {
      options.push(el("option", { value: String(id) }, id === myId ? `${state.agents.get(id) || "Me"} (you)` : agentName(id)));
    }
    select.replaceChildren(...options);
    select.value = c.assigned_agent_id === null ? "" : String(c.assigned_agent_id);
  }

  function windowOpen(c) {
    if (!c.window_expires_at) return false;
    const closes = parseTime(c.window_expires_at);
    return Boolean(c.can_reply) && closes && closes > new Date();
  }

  // What a reply would cost, before it is sent (the server's reply_cost, by Meta's pricing rules).
  function renderCost(c, open) {
    const hint = $("cost-hint");
    const cost = c.reply_cost || {};
    const reply = open && !c.blocked ? cost.free_form : null;
    hint.hidden = !reply;
    if (!reply) return;
    hint.dataset.charged = String(Boolean(reply.charged));
    hint.textContent = `${reply.charged ? "Charged" : "Free"} · ${reply.note}`;
  }

  function templateCost(template) {
    const category = template && template.category ? String(template.category).toLowerCase() : "";
    const c = state.newChat === null ? state.current : null;
    const known = c && c.reply_cost && c.reply_cost.templates ? c.reply_cost.templates[category] : null;
    if (known) return known;
    if (!category) return null;
    // A chat this inbox does not have yet: no window is open, so every template is charged.
    return { charged: true, note: `Charged at Meta's ${category} rate (no customer service window is open)` };
  }

  function renderTemplateCost() {
    const cost = templateCost(selectedTemplate());
    const hint = $("template-cost");
    hint.hidden = !cost;
    if (!cost) return;
    hint.dataset.charged = String(Boolean(cost.charged));
    hint.textContent = `${cost.charged ? "Charged" : "Free"} · ${cost.note}`;
  }

  function renderWindow(c) {
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
  }

  // --- messages ------------------------------------------------------------------------------
  // The thread is keyed: each message's <li> lives as long as the message is shown, and a refresh
  // changes only the parts of a bubble whose data changed (a tick never restarts a playing voice
  // note or reloads a photo).

  // The node for `key`: the one already shown while `sig` is unchanged, else a new one from build().
  function keyed(key, sig, build) {
    const old = state.nodes.get(key);
    if (old && old._sig === sig) return old;
    const node = build();
    node._sig = sig;
    state.nodes.set(key, node);
    return node;
  }

  // Make parent's children exactly `nodes`, in order, without detaching the nodes that stay.
  function reconcile(parent, nodes) {
    const keep = new Set(nodes);
    for (const child of Array.from(parent.childNodes)) if (!keep.has(child)) child.remove();
    nodes.forEach((node, i) => {
      const at = parent.childNodes[i];
      if (at !== node) parent.insertBefore(node, at || null);
    });
  }

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  function scrollToBottom() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
    state.pinned = true;
    hideNewMessages();
  }

  function showNewMessages() {
    const button = $("new-messages");
    button.textContent = state.unseen === 1 ? "1 new message ↓" : `${state.unseen} new messages ↓`;
    button.hidden = false;
  }

  function hideNewMessages() {
    state.unseen = 0;
    $("new-messages").hidden = true;
  }

  function renderMessages(toBottom) {
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
    for (const m of state.messages) {
      const date = parseTime(m.timestamp);
      const day = date ? date.toDateString() : "";
      if (day !== lastDay) {
        const label = date ? date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", year: "numeric" }) : "";
        items.push(keyed(`day:${day}`, label, () => el("li", { class: "day", role: "separator" }, label)));
        lastDay = day;
      }
      items.push(bubble(m));
    }
    reconcile(box, items);
    const shown = new Set(items);
    for (const [key, node] of state.nodes) {
      if (shown.has(node)) continue;
      state.nodes.delete(key);
      if (bubbleSizes) bubbleSizes.unobserve(node);
    }
    if (pinned) scrollToBottom();
    else if (state.unseen) showNewMessages();
  }

  const TICKS = {
    pending: ["🕓", "Sending"],
    sent: ["✓", "Sent"],
    delivered: ["✓✓", "Delivered"],
    read: ["✓✓", "Read"],
    played: ["✓✓", "Played"],
    failed: ["!", "Failed"],
  };

  function ticks(m) {
    const [symbol, label] = m.outcome_unknown ? ["?", "Outcome unknown"] : TICKS[m.status] || ["", m.status];
    return el("span", { class: `ticks ${m.status}`, "data-status": m.status, title: label, "aria-label": label }, symbol);
  }

  function failureText(error) {
    if (!error) return "WhatsApp did not deliver this message.";
    const parts = [error.title, error.details].filter(Boolean);
    const code = error.code !== null && error.code !== undefined ? ` (code ${error.code})` : "";
    return (parts.join(": ") || "WhatsApp did not deliver this message") + code;
  }

  // Coexistence: messages that did not go through this inbox, but through the WhatsApp Business app on the same number.
  const ORIGINS = {
    business_app: "Sent from the WhatsApp Business app",
    history: "Imported from the WhatsApp Business app's chat history",
  };

  // A bubble's parts, in order: [name, signature of the data it shows, build() -> node or null].
  function bubbleParts(m) {
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
    ];
  }

  let bubbleSizes = null; // a ResizeObserver: any bubble growing while pinned keeps the bottom in view

  function bubble(m) {
    const key = `m:${m.id}`;
    let li = state.nodes.get(key);
    if (!li) {
      li = el("li", { dataset: { id: String(m.id) } });
      li._parts = {};
      state.nodes.set(key, li);
      if (bubbleSizes) bubbleSizes.observe(li);
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

  const MEDIA_NAMES = { image: "Image", sticker: "Sticker", video: "Video", audio: "Audio", document: "Document" };

  // A download that failed: say so, and offer the retry (inbound only: Meta holds the file).
  function mediaFailed(m) {
    const what = MEDIA_NAMES[m.type] || "Media";
    const box = el("div", { class: "media-failed" }, el("span", { class: "media-missing" }, `${what} not available`));
    if (m.direction === "inbound" && m.media && m.media.id) {
      const note = el("span", { class: "media-note", role: "status" });
      const button = el("button", { type: "button", class: "retry", "aria-label": `Retry downloading the ${what.toLowerCase()}` }, "Retry");
      button.addEventListener("click", () => retryMedia(m.id, button, note));
      box.append(button, note);
    }
    return box;
  }

  async function retryMedia(id, button, note) {
    button.disabled = true;
    button.textContent = "Retrying…";
    note.textContent = "";
    try {
      const answer = await api(`/media/${id}/retry`, { method: "POST" });
      const index = state.messages.findIndex((m) => m.id === id);
      const li = state.nodes.get(`m:${id}`);
      if (li) delete li._parts.content; // rebuilt even if the data is unchanged (the file was missing)
      if (index >= 0 && answer.message) {
        state.messages[index] = { ...state.messages[index], media: answer.message.media, media_state: answer.message.media_state };
        renderMessages(false);
      }
    } catch (error) {
      button.disabled = false;
      button.textContent = "Retry";
      note.textContent = error.offline ? "The inbox server is unreachable." : "Still not available from WhatsApp.";
    }
  }

  function mediaUnavailable(node, m) {
    const box = $("messages");
    const pinned = state.pinned;
    node.replaceWith(mediaFailed(m));
    if (pinned) box.scrollTop = box.scrollHeight;
  }

  // --- rich content: m.content, the message's structure by type (docs/dashboard.md) ------------
  // A customer's content is hostile: every value reaches the page as text through el(), and only
  // http(s) addresses (and the geo/map links built here from numbers) become links.

  const given = (value) => value !== null && value !== undefined && value !== "";

  // The address as a link target when it is http(s), else null (javascript:, data:, junk...).
  function safeHref(url) {
    if (typeof url !== "string" || !url.trim()) return null;
    try {
      const parsed = new URL(url.trim());
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function linkOrText(url, label, cls) {
    const href = safeHref(url);
    const text = given(label) ? String(label) : String(url);
    return href
      ? el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", class: cls }, text)
      : el("span", { class: cls }, text);
  }

  function scalar(value) {
    if (!given(value)) return "—";
    if (value === true) return "Yes";
    if (value === false) return "No";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function money(amount, currency) {
    if (!given(amount)) return "—";
    const n = Number(amount);
    if (!Number.isFinite(n)) return String(amount);
    if (!currency) return String(n);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: String(currency) }).format(n);
    } catch (_) {
      return `${n} ${currency}`; // not an ISO 4217 code
    }
  }

  // A flow's answers as [label, value] rows: nested keys flattened "a.b", lists of plain values
  // joined, lists of objects numbered from 1 ("guests.1.name").
  function flatten(value, prefix, out = []) {
    if (Array.isArray(value)) {
      if (value.every((v) => v === null || typeof v !== "object")) out.push([prefix || "value", value.length ? value.map(scalar).join(", ") : "—"]);
      else value.forEach((v, i) => flatten(v, prefix ? `${prefix}.${i + 1}` : String(i + 1), out));
    } else if (value !== null && typeof value === "object") {
      const entries = Object.entries(value);
      if (!entries.length && prefix) out.push([prefix, "—"]);
      for (const [key, inner] of entries) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    } else {
      out.push([prefix || "value", scalar(value)]);
    }
    return out;
  }

  function rawToggle(raw) {
    const summary = el("summary", {}, "Show raw JSON");
    return el(
      "details",
      { class: "raw", ontoggle: (event) => { summary.textContent = event.target.open ? "Hide raw JSON" : "Show raw JSON"; } },
      summary,
      el("pre", {}, JSON.stringify(raw === undefined ? null : raw, null, 2)),
    );
  }

  const contentOf = (m) => (m.content && typeof m.content === "object" ? m.content : null);

  function productOf(m) {
    const p = contentOf(m) && contentOf(m).product;
    return p && typeof p === "object" && (given(p.product_retailer_id) || given(p.catalog_id)) ? p : null;
  }

  function referralOf(m) {
    const c = contentOf(m);
    const r = c ? c.referral : m.referral; // before `content`, the API passed Meta's referral as it came
    return r && typeof r === "object" ? r : null;
  }

  // A product inquiry: the customer wrote from a product of the catalog.
  function inquiry(product) {
    if (!product) return null;
    return el(
      "p",
      { class: "inquiry" },
      "🛍 Asked about ",
      el("strong", { class: "product-id" }, given(product.product_retailer_id) ? String(product.product_retailer_id) : "a product"),
      given(product.catalog_id) ? ` (catalog ${product.catalog_id})` : null,
    );
  }

  // A click-to-WhatsApp ad the customer came from.
  function referralCard(r) {
    if (!r) return null;
    const source = given(r.source_url)
      ? linkOrText(r.source_url, safeHref(r.source_url) ? `Open the ${r.source_type || "ad"}` : r.source_url, "referral-source")
      : null;
    return el(
      "div",
      { class: "referral", role: "group", "aria-label": "From ad" },
      el("span", { class: "referral-label" }, "From ad"),
      given(r.headline) ? el("strong", { class: "referral-headline" }, String(r.headline)) : null,
      given(r.body) ? el("span", { class: "referral-body" }, String(r.body)) : null,
      source,
    );
  }

  // Lines that are not a bubble: a decision or a change the customer made, shown centred.
  function systemLine(m) {
    const c = contentOf(m);
    if (m.type === "system" || m.type === "request_welcome") return true;
    return Boolean(c && m.type === "interactive" && c.kind === "call_permission_reply");
  }

  function callPermissionText(c) {
    const automatic = c.response_source === "automatic" ? " (automatically)" : "";
    if (c.response === "accept") {
      if (c.is_permanent) return `Customer accepted calls (permanently)${automatic}`;
      if (c.expiration_timestamp) return `Customer accepted calls until ${longTime(c.expiration_timestamp) || c.expiration_timestamp}${automatic}`;
      return `Customer accepted calls${automatic}`;
    }
    if (c.response === "reject") return `Customer declined calls${automatic}`;
    return `Customer answered the call request: ${scalar(c.response)}`;
  }

  function locationBlock(m, c) {
    const source = c && given(c.latitude) ? c : m.location;
    const lat = source ? Number(source.latitude) : NaN;
    const lon = source ? Number(source.longitude) : NaN;
    if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return el("span", { class: "location" }, "📍 ", m.text || "Location");
    }
    const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
    const name = given(source.name) ? String(source.name) : null;
    const address = given(source.address) ? String(source.address) : null;
    return el(
      "div",
      { class: "location-card" },
      el(
        "a",
        { href, target: "_blank", rel: "noopener noreferrer", class: "location" },
        "📍 ",
        name || address || `${lat}, ${lon}`,
        name && address ? el("span", { class: "address" }, address) : null,
        el("span", { class: "coords" }, `${lat}, ${lon}`),
        el("span", { class: "map-hint" }, " (map)"),
      ),
      el("a", { href: `geo:${lat},${lon}`, class: "geo-link" }, "Open in a maps app"),
      given(source.url) ? linkOrText(source.url, null, "location-url") : null,
    );
  }

  function contactCard(card) {
    const name = card.name && typeof card.name === "object" ? card.name : {};
    const full = name.formatted_name ||
      [name.prefix, name.first_name, name.middle_name, name.last_name, name.suffix].filter(given).join(" ") || "Contact";
    const org = card.org && typeof card.org === "object" ? [card.org.company, card.org.department, card.org.title].filter(given).join(" · ") : "";
    const row = (cls, label, value, extra) =>
      el("li", { class: cls }, el("span", { class: "field-label" }, label), " ", el("span", { class: "field-value" }, value), extra || null);
    const fields = [];
    for (const p of card.phones || []) {
      const number = p.phone || (p.wa_id ? "+" + p.wa_id : "");
      const chat = p.wa_id
        ? el("button", {
          type: "button",
          class: "open-chat",
          "aria-label": `Open chat with ${number}`,
          onclick: () => openChat(p.wa_id).catch(console.warn),
        }, "Open chat")
        : null;
      fields.push(row("phone", p.type ? `📞 ${p.type}` : "📞", String(number), chat));
    }
    for (const e of card.emails || []) fields.push(row("email", e.type ? `✉ ${e.type}` : "✉", String(e.email || "")));
    for (const a of card.addresses || []) {
      const line = [a.street, a.city, a.state, a.zip, a.country || a.country_code].filter(given).join(", ");
      if (line) fields.push(row("address", a.type ? `🏠 ${a.type}` : "🏠", line));
    }
    for (const u of card.urls || []) {
      if (given(u.url)) fields.push(el("li", { class: "url" }, el("span", { class: "field-label" }, u.type ? `🔗 ${u.type}` : "🔗"), " ", linkOrText(u.url, null, "field-value")));
    }
    if (given(card.birthday)) fields.push(row("birthday", "🎂", String(card.birthday)));
    return el(
      "div",
      { class: "contact-card", role: "group", "aria-label": `Contact card: ${full}` },
      el("p", { class: "contact-name" }, "👤 ", el("span", {}, String(full))),
      org ? el("p", { class: "contact-org" }, org) : null,
      fields.length ? el("ul", { class: "contact-fields" }, fields) : null,
    );
  }

  function orderBlock(c) {
    const items = Array.isArray(c.items) ? c.items : [];
    const total = c.total && typeof c.total === "object" ? money(c.total.amount, c.total.currency) : "—";
    return [
      el(
        "table",
        { class: "order" },
        el("caption", {}, `🛒 Order · ${items.length} ${items.length === 1 ? "item" : "items"}`),
        el("thead", {}, el("tr", {}, ["Product", "Qty", "Unit price", "Line total"].map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          items.map((i) =>
            el(
              "tr",
              {},
              el("td", { class: "product" }, given(i.product_retailer_id) ? String(i.product_retailer_id) : "—"),
              el("td", { class: "num" }, scalar(i.quantity)),
              el("td", { class: "num" }, money(i.item_price, i.currency)),
              el("td", { class: "num" }, money(i.line_total, i.currency)),
            )),
        ),
        el(
          "tfoot",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "row", colspan: "3" }, "Total"),
            el("td", { class: "num", title: c.total ? null : "Not computed: the items mix currencies or a price is missing" }, total),
          ),
        ),
      ),
      given(c.note) ? el("p", { class: "text order-note" }, String(c.note)) : null,
      given(c.catalog_id) ? el("p", { class: "catalog" }, `Catalog ${c.catalog_id}`) : null,
    ];
  }

  function flowBlock(c) {
    const title = c.flow_name && c.flow_name !== "flow" ? `Form reply · ${c.flow_name}` : "Form reply";
    const parts = [el("p", { class: "flow-title", title: c.flow_token ? `flow_token ${c.flow_token}` : null }, "📝 ", title)];
    if (c.response && typeof c.response === "object") {
      // The flow_token is Meta's routing data, not an answer (it is in the title above).
      const answers = Array.isArray(c.response) ? c.response : Object.fromEntries(Object.entries(c.response).filter(([k]) => k !== "flow_token"));
      const rows = flatten(answers, "");
      parts.push(
        rows.length
          ? el("dl", { class: "flow-fields" }, rows.map(([label, value]) => el("div", { class: "flow-field" }, el("dt", {}, label), el("dd", {}, value))))
          : el("p", { class: "muted" }, "No answers."),
      );
    } else if (given(c.response_error) || given(c.response_raw)) {
      parts.push(el("p", { class: "placeholder" }, "The answers could not be read."), rawToggle(c.response_raw));
    }
    if (given(c.body) && c.body !== "Sent") parts.push(el("p", { class: "text" }, String(c.body)));
    return parts;
  }

  function choiceBlock(label, title, description) {
    return el(
      "div",
      { class: "choice" },
      el("span", { class: "choice-kind" }, label),
      el("span", { class: "choice-title" }, given(title) ? String(title) : "—"),
      given(description) ? el("span", { class: "choice-desc" }, String(description)) : null,
    );
  }

  // The nodes for m.content, or null to fall back to the text; fills `box`.
  function richContent(m, c, box) {
    if (c && given(c.placeholder)) {
      box.append(el("p", { class: "placeholder" }, String(c.placeholder)), rawToggle(c.raw));
      return true;
    }
    switch (m.type) {
      case "location":
        box.append(locationBlock(m, c));
        return true;
      case "contacts":
        if (!c || !Array.isArray(c.cards) || !c.cards.length) return false;
        box.append(...c.cards.map(contactCard));
        return true;
      case "order":
        if (!c) return false;
        box.append(...orderBlock(c).filter(Boolean));
        return true;
      case "button":
        if (!c) return false;
        box.append(choiceBlock("Tapped a button", c.text || c.payload || m.text, null));
        return true;
      case "system":
        box.append(el("p", { class: "system-text" }, (c && c.body) || m.text || "The customer's account changed"));
        return true;
      case "request_welcome":
        box.append(el("p", { class: "system-text" }, "The customer opened the chat"));
        return true;
      case "interactive":
        if (!c) return false;
        if (c.kind === "call_permission_reply") box.append(el("p", { class: "system-text" }, callPermissionText(c)));
        else if (c.kind === "nfm_reply") box.append(...flowBlock(c));
        else if (c.kind === "button_reply") box.append(choiceBlock("Tapped a button", c.title || m.text, c.description));
        else if (c.kind === "list_reply") box.append(choiceBlock("Chose from the list", c.title || m.text, c.description));
        else if ("raw" in c) box.append(el("p", { class: "placeholder" }, `An interactive reply this inbox does not show (${c.kind || "unknown"})`), rawToggle(c.raw));
        else return false;
        return true;
      default:
        return false;
    }
  }

  function errorsNote(m, c) {
    const errors = c && Array.isArray(c.errors) ? c.errors : [];
    if (m.direction !== "inbound" || !errors.length) return null; // an outbound failure has its own line
    return el(
      "p",
      { class: "msg-errors" },
      "WhatsApp reported: ",
      errors.map((e) => failureText({ title: e.title, details: e.details || e.message, code: e.code })).join("; "),
    );
  }

  function content(m) {
    const box = el("div", { class: "content" });
    const media = m.media || null;
    const url = media && (media.id || media.state) ? `${API}/media/${m.id}` : null;
    const failed = Boolean(url) && media.state === "failed";
    const c = contentOf(m);
    let caption = m.text;
    let placeholder = m.placeholder;
    switch (m.type) {
      case "image":
      case "sticker": {
        if (failed) {
          box.append(mediaFailed(m));
        } else if (url) {
          const img = el("img", { src: url, class: m.type, alt: m.type === "sticker" ? "Sticker" : m.text || "Image", loading: "lazy" });
          const link = el("a", { href: url, target: "_blank", rel: "noopener", class: "media-link" }, img);
          img.addEventListener("error", () => mediaUnavailable(link, m));
          box.append(link);
        } else {
          box.append(el("span", { class: "media-missing" }, `[${m.type}]`));
        }
        if (m.type === "sticker") caption = null;
        break;
      }
      case "video":
      case "audio": {
        if (failed) {
          box.append(mediaFailed(m));
        } else if (url) {
          const player = el(m.type, { src: url, controls: true, preload: "metadata", "aria-label": m.type === "video" ? "Video" : "Voice or audio message" });
          player.addEventListener("error", () => mediaUnavailable(player, m));
          box.append(player);
        } else {
          box.append(el("span", { class: "media-missing" }, `[${m.type}]`));
        }
        break;
      }
      case "document": {
        const name = (media && media.filename) || "Document";
        if (failed) {
          box.append(el("span", { class: "document" }, "📄 ", name), mediaFailed(m));
        } else {
          box.append(
            url
              ? el("a", { href: url, download: name, class: "document" }, el("span", { "aria-hidden": "true" }, "📄 "), name)
              : el("span", { class: "document" }, "📄 ", name),
          );
        }
        if (caption === name) caption = null;
        break;
      }
      default:
        if (richContent(m, c, box)) {
          caption = null;
          if (c && given(c.placeholder)) placeholder = null; // shown once, with its raw JSON
        }
        break;
    }
    if (placeholder) {
      box.append(el("p", { class: "placeholder" }, placeholder));
      caption = null;
    }
    if (media && media.state && media.state !== "ready" && media.state !== "failed" && m.direction === "inbound") {
      box.append(el("span", { class: "media-state" }, "Downloading…"));
    }
    if (caption) box.append(el("p", { class: "text" }, caption));
    const note = errorsNote(m, c);
    if (note) box.append(note);
    if (!box.childNodes.length) box.append(el("p", { class: "text muted" }, `[${m.type}]`));
    return box;
  }

  // "Open chat" on a contact card's number: its conversation when there is one; a number that has
  // never written can only be sent a template, and that send starts the conversation.
  async function openChat(waId) {
    const number = "+" + String(waId).replace(/\D/g, "");
    hideSendError();
    try {
      const answer = await api(`/conversation?phone_number=${encodeURIComponent(number)}`);
      await openConversation(answer.conversation.id);
    } catch (error) {
      if (error.status === 404) startChat(number);
      else showSendError(error.offline ? UNREACHABLE : `The chat could not be opened: ${error.message}`);
    }
  }

  function startChat(number) {
    state.newChat = number;
    openTemplates().then(() => {
      if (state.newChat === number) $("template-title").textContent = `Start a chat with ${number}: send a template`;
    });
  }

  // --- replying --------------------------------------------------------------------------------

  function startReply(m) {
    state.replyTo = m;
    $("reply-text").textContent = m.text || `[${m.type}]`;
    $("reply-bar").hidden = false;
    if (!$("reply").disabled) $("reply").focus();
  }

  function cancelReply() {
    state.replyTo = null;
    $("reply-bar").hidden = true;
    $("reply-text").textContent = "";
  }

  function showSendError(text, kind = "send") {
    const box = $("send-error");
    box.textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
  }

  function hideSendError() {
    $("send-error").hidden = true;
    $("send-error").textContent = "";
  }

  function idempotencyKey() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }

  // Sends go to the conversation whose draft it is, even if the agent moves on while it travels.
  async function sendText() {
    const id = state.currentId;
    const text = $("reply").value.trim();
    if (!text || id === null || state.sending.has(id)) return;
    const body = { conversation_id: id, message: text };
    if (state.replyTo && state.replyTo.whatsapp_message_id) body.reply_to = state.replyTo.whatsapp_message_id;
    hideSendError();
    state.sending.add(id);
    $("send").disabled = true;
    try {
      await api("/send", { method: "POST", json: body, headers: { "Idempotency-Key": idempotencyKey() } });
      draftSent(id, text);
      if (id === state.currentId) cancelReply();
    } catch (error) {
      // Stored, but WhatsApp's answer was lost: the bubble says so, and the box is emptied so that
      // pressing Enter again does not send it twice.
      if (error.body && error.body.message && error.body.message.outcome_unknown) draftSent(id, text);
      if (id === state.currentId) showSendError(error.offline ? NOT_SENT : error.message);
    } finally {
      state.sending.delete(id);
      $("send").disabled = false;
      if (state.current) renderWindow(state.current);
      if (id === state.currentId) await refreshThread({ toBottom: true });
    }
  }

  async function sendFile(file) {
    const id = state.currentId;
    if (!file || id === null) return;
    const form = new FormData();
    form.append("file", file);
    form.append("conversation_id", String(id));
    const caption = $("reply").value.trim();
    if (caption) form.append("caption", caption);
    if (state.replyTo && state.replyTo.whatsapp_message_id) form.append("reply_to", state.replyTo.whatsapp_message_id);
    hideSendError();
    $("attach").disabled = true;
    try {
      await api("/send-media", { method: "POST", form, headers: { "Idempotency-Key": idempotencyKey() } });
      if (caption) draftSent(id, caption);
      if (id === state.currentId) cancelReply();
    } catch (error) {
      if (id === state.currentId) showSendError(error.offline ? NOT_SENT : error.message);
    } finally {
      $("attach").disabled = false;
      if (state.current) renderWindow(state.current);
      $("file").value = "";
      if (id === state.currentId) await refreshThread({ toBottom: true });
    }
  }

  function autosize() {
    const textarea = $("reply");
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 160) + "px";
  }

  // --- templates ------------------------------------------------------------------------------

  async function openTemplates() {
    const dialog = $("template-dialog");
    $("template-error").hidden = true;
    if (!state.templates) {
      try {
        state.templates = (await api("/templates")).templates || [];
      } catch (error) {
        state.templates = null;
        $("template-select").replaceChildren();
        $("template-params").replaceChildren();
        $("template-preview").textContent = "";
        templateError(`Templates could not be loaded: ${error.message}`);
        dialog.showModal();
        return;
      }
    }
    const select = $("template-select");
    select.replaceChildren(
      ...state.templates.map((t, i) => el("option", { value: String(i) }, `${t.name} (${t.language})${t.category ? " · " + t.category.toLowerCase() : ""}`)),
    );
    if (!state.templates.length) templateError("There are no approved templates yet.");
    renderTemplateParams();
    dialog.showModal();
    select.focus();
  }

  function templateError(text) {
    $("template-error").textContent = text;
    $("template-error").hidden = false;
  }

  function selectedTemplate() {
    const index = Number($("template-select").value);
    return state.templates && Number.isInteger(index) ? state.templates[index] : null;
  }

  function paramInput(group, index, label, type = "text", name = null) {
    const id = `tp-${group}-${index}`;
    const dataset = name === null ? { group, index: String(index) } : { group, index: String(index), name };
    return el(
      "div",
      { class: "param" },
      el("label", { for: id }, label),
      el("input", { id, type, required: true, dataset }),
    );
  }

  function renderTemplateParams() {
    const template = selectedTemplate();
    const box = $("template-params");
    box.replaceChildren();
    $("template-preview").textContent = "";
    $("template-cost").hidden = true;
    if (!template) return;
    const body = (template.components || []).find((c) => String(c.type).toUpperCase() === "BODY");
    $("template-preview").textContent = body && body.text ? body.text : "";
    renderTemplateCost();
    const needs = template.parameters || {};
    // A NAMED template's fields are labelled and sent by name; a POSITIONAL one's by position.
    const names = template.parameter_format === "NAMED" ? template.parameter_names || {} : null;
    const textInputs = (group, title) => {
      if (names) {
        (names[group] || []).forEach((name, i) => box.append(paramInput(group, i, `${title} ${name}`, "text", name)));
      } else {
        for (let i = 0; i < (needs[group] || 0); i++) box.append(paramInput(group, i, `${title} {{${i + 1}}}`));
      }
    };
    if (typeof needs.header === "string") {
      box.append(paramInput("header-media", 0, `Header ${needs.header} (public link)`, "url"));
    } else {
      textInputs("header", "Header");
    }
    textInputs("body", "Body");
    (needs.buttons || []).forEach((count, b) => {
      for (let i = 0; i < count; i++) box.append(paramInput(`button-${b}`, i, `Button ${b + 1} {{${i + 1}}}`));
    });
  }

  async function sendTemplate(event) {
    event.preventDefault();
    const template = selectedTemplate();
    const to = state.newChat; // a contact card's number with no conversation yet: this send starts it
    if (!template || (state.currentId === null && !to)) return;
    const parameters = {};
    const buttons = [];
    for (const input of $("template-params").querySelectorAll("input")) {
      const group = input.dataset.group;
      const value = input.value.trim();
      if (group === "header-media") parameters.header = { type: template.parameters.header, link: value };
      else if ((group === "header" || group === "body") && input.dataset.name !== undefined) {
        (parameters[group] ||= {})[input.dataset.name] = value; // a NAMED template: {"first_name": "Jane"}
      } else if (group === "header" || group === "body") (parameters[group] ||= []).push(value);
      else if (group.startsWith("button-")) (buttons[Number(group.slice(7))] ||= []).push(value);
    }
    if (buttons.length) parameters.buttons = Array.from(buttons, (b) => b || []);
    try {
      await api("/send", {
        method: "POST",
        json: { ...(to ? { phone_number: to } : { conversation_id: state.currentId }), type: "template", template: { name: template.name, language: template.language, parameters } },
        headers: { "Idempotency-Key": idempotencyKey() },
      });
      $("template-dialog").close();
      hideSendError();
      if (to) openChat(to).catch(console.warn);
    } catch (error) {
      templateError(error.message);
    } finally {
      refreshThread({ toBottom: true });
    }
  }

  // --- conversation actions -------------------------------------------------------------------

  async function act(path, body) {
    hideSendError();
    try {
      const answer = await api(path, { method: "POST", json: { conversation_id: state.currentId, ...body } });
      if (answer.conversation) {
        state.current = answer.conversation;
        renderHead();
      }
    } catch (error) {
      showSendError(error.message);
    }
    refreshList();
  }

  // --- live updates ----------------------------------------------------------------------------

  function setLive(mode, text) {
    const badge = $("live");
    badge.dataset.state = mode;
    badge.textContent = text;
  }

  // --- the account's signals: the number's quality, limits, restrictions (GET /health) ----------

  async function refreshAccount() {
    let alerts = [];
    try {
      alerts = (await api("/health")).health.alerts || [];
    } catch (error) {
      console.warn(error);
      return;
    }
    $("account-alerts").replaceChildren(...alerts.map((line) => el("li", {}, line)));
    $("account-banner").hidden = alerts.length === 0;
  }

  const refreshAccountSoon = debounce(() => refreshAccount(), 200);

  function handleEvent(event) {
    if (event.kind === "account.updated") {
      // A template may have been paused or approved: the dialog lists them again when next opened.
      state.templates = null;
      refreshAccountSoon();
      return;
    }
    refreshListSoon();
    if (event.kind === "conversation.merged" && event.merged_from === state.currentId) {
      // The open thread was folded into another of the same customer's: follow it there.
      moveDraft(event.merged_from, event.conversation_id);
      openConversation(event.conversation_id).catch(console.warn);
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

  const refreshListSoon = debounce(() => refreshList(), 120);

  function connect() {
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

  // --- keyboard -------------------------------------------------------------------------------

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function onKey(event) {
    if (event.key === "/" && !typing(event.target)) {
      event.preventDefault();
      $("search").focus();
      return;
    }
    if (event.key === "Escape") {
      if ($("template-dialog").open) return;
      if (state.replyTo) cancelReply();
      else if (document.body.classList.contains("thread-open")) closeThreadView();
      return;
    }
    const list = $("conversation-list");
    if ((event.key === "ArrowDown" || event.key === "ArrowUp") && list.contains(event.target)) {
      event.preventDefault();
      const items = Array.from(list.querySelectorAll("button.conv"));
      const index = items.indexOf(event.target);
      const next = items[Math.max(0, Math.min(items.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)))];
      if (next) next.focus();
    }
  }

  // --- start ----------------------------------------------------------------------------------

  async function loadAgents() {
    const answer = await api("/agents");
    state.agents = new Map(answer.agents.map((a) => [a.id, a.name]));
  }

  function wire() {
    for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => setFilter(tab.dataset.filter));
    $("search").addEventListener(
      "input",
      debounce(() => {
        state.q = $("search").value.trim();
        refreshList();
      }, 250),
    );
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      sendText();
    });
    $("reply").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendText();
      }
    });
    $("reply").addEventListener("input", () => {
      setDraft(state.currentId, $("reply").value);
      autosize();
    });
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
    if (window.ResizeObserver) bubbleSizes = new ResizeObserver(keepPinned);
    $("new-messages").addEventListener("click", scrollToBottom);
    $("attach").addEventListener("click", () => $("file").click());
    $("file").addEventListener("change", () => sendFile($("file").files[0]));
    $("reply-cancel").addEventListener("click", cancelReply);
    $("back").addEventListener("click", closeThreadView);
    $("assign").addEventListener("change", () => {
      const value = $("assign").value;
      if (value === "") act("/unassign", {});
      else act("/assign-agent", { agent_id: Number(value) });
    });
    document.querySelector("form.signout").addEventListener("submit", forgetDrafts);
    $("take").addEventListener("click", () => act("/assign-agent", { agent_id: myId }));
    $("close-conv").addEventListener("click", () => act("/close", {}));
    $("reopen-conv").addEventListener("click", () => act("/reopen", {}));
    $("block-conv").addEventListener("click", () => {
      const name = state.current ? displayName(state.current) : "this customer";
      if (window.confirm(`Block ${name} on WhatsApp? They will not be able to message you, and you cannot message them.`)) act("/block", {});
    });
    $("unblock-conv").addEventListener("click", () => act("/unblock", {}));
    $("template-open").addEventListener("click", openTemplates);
    $("template-select").addEventListener("change", renderTemplateParams);
    $("template-form").addEventListener("submit", sendTemplate);
    $("template-cancel").addEventListener("click", () => $("template-dialog").close());
    $("template-dialog").addEventListener("close", () => {
      if (state.newChat === null) return;
      state.newChat = null;
      $("template-title").textContent = "Send a template";
    });
    document.addEventListener("keydown", onKey);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && state.current && state.current.unread_count > 0) markRead();
    });
    // The window can close while the page is open.
    setInterval(() => state.current && renderWindow(state.current), 30000);
  }

  async function start() {
    wire();
    try {
      const log = await api("/events?after=0&limit=1");
      state.lastEventId = log.last_event_id;
    } catch (error) {
      console.warn(error);
    }
    await Promise.all([loadAgents().catch(console.warn), refreshList(), refreshAccount()]);
    connect();
    document.body.dataset.ready = "true";
  }

  start();
})();
