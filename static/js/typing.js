// Typing: the customer sees "typing…" on WhatsApp while I type a reply (POST /typing, Meta's typing
// indicator; the server decides whether it goes out), other agents see me viewing or typing in a thread
// (POST /activity) and I see them ("Bruno Lima is typing…" in the header), and Send asks first when
// another agent is typing here or the conversation is assigned to someone else (hooks.beforeSend).
// Admins switch the customer's indicator in Settings · Typing indicators.

import { API, csrf } from "./api.js";
import { $, el } from "./dom.js";

const RENEW_MS = 20000; // POST /typing and the activity renewal: at most this often (Meta shows it 25 s)
const IDLE_MS = 5000; // no keystroke for this long: "typing" goes back to "viewing"
const POLL_MS = 10000; // who is here, read again (renewals send no event)
const SEEN_MS = 30000; // another agent's state without a word from the server for this long is gone

let ctx = null;
let openId = null; // the conversation I am in, as told to the server
let myState = "left";
let renewedAt = 0;
let idleTimer = null;
const typingSentAt = new Map(); // conversation id -> when I last asked for the customer's indicator
const others = new Map(); // agent id -> { state, name, seen } in the open conversation
let line = null;
let confirmBox = null;
let asking = null; // the pending "Send anyway?" (a second Send waits on the same one)
const confirmedAssignee = new Map(); // conversation id -> the assignee I said "send anyway" about

// --- telling the server ------------------------------------------------------------------------

function tell(id, state) {
  if (id === null) return;
  ctx.api("/activity", { method: "POST", json: { conversation_id: id, state } }).catch(() => {});
}

function setState(state) {
  if (openId === null) return;
  if (state !== myState || Date.now() - renewedAt >= RENEW_MS) {
    myState = state;
    renewedAt = Date.now();
    tell(openId, state);
  }
}

// The page goes away: a plain fetch would be cut, keepalive lets it finish (and carries the CSRF header).
function leaveOnPagehide() {
  if (openId === null) return;
  try {
    fetch(`${API}/activity`, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify({ conversation_id: openId, state: "left" }),
    }).catch(() => {});
  } catch (_) {
    /* nothing to do: the server lets it expire */
  }
  openId = null;
  myState = "left";
}

// Follow the open conversation: left for the one I left, viewing for the one I opened (the promise:
// who is there, loaded).
function follow() {
  const id = ctx.state.currentId;
  if (id === openId) {
    if (id !== null && Date.now() - renewedAt >= RENEW_MS) setState(myState);
    return Promise.resolve();
  }
  if (openId !== null) tell(openId, "left");
  openId = id;
  myState = "left";
  others.clear();
  render();
  if (id === null) return Promise.resolve();
  setState("viewing");
  return load();
}

async function load() {
  const id = openId;
  if (id === null) return;
  try {
    const answer = await ctx.api(`/activity?conversation_id=${id}`);
    if (id !== openId) return;
    others.clear();
    for (const a of answer.activity) {
      if (a.agent_id !== ctx.myId) others.set(a.agent_id, { state: a.state, name: a.agent_name, seen: Date.now() });
    }
    render();
  } catch (_) {
    /* the next poll tries again */
  }
}

// --- typing in the reply box -------------------------------------------------------------------

function noteMode() {
  return $("composer").classList.contains("note-mode");
}

function typed() {
  const id = ctx.state.currentId;
  if (id === null || noteMode() || $("reply").disabled) return;
  follow();
  setState("typing");
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => setState("viewing"), IDLE_MS);
  const last = typingSentAt.get(id) || 0;
  if (Date.now() - last >= RENEW_MS) {
    typingSentAt.set(id, Date.now());
    ctx.api("/typing", { method: "POST", json: { conversation_id: id } }).catch(() => {});
  }
}

// --- who else is here --------------------------------------------------------------------------

function nameOf(id, fallback) {
  return ctx.state.agents.get(id) || fallback || `Agent #${id}`;
}

function present() {
  const now = Date.now();
  for (const [id, who] of others) if (now - who.seen > SEEN_MS) others.delete(id);
  return [...others.entries()];
}

function render() {
  if (!line) return;
  const here = present();
  const parts = here
    .sort(([, a], [, b]) => (a.state === b.state ? 0 : a.state === "typing" ? -1 : 1))
    .map(([id, who]) =>
      el("span", { class: `activity-agent ${who.state}`, dataset: { agentId: String(id) } }, `${nameOf(id, who.name)} is ${who.state === "typing" ? "typing…" : "viewing"}`),
    );
  line.replaceChildren(...parts);
  line.hidden = parts.length === 0;
}

function onEvent(event) {
  if (event.kind !== "activity.updated" || event.agent_id === ctx.myId) return;
  if (event.conversation_id !== openId || event.agent_id === null) return;
  const state = event.detail && event.detail.state;
  if (state === "viewing" || state === "typing") others.set(event.agent_id, { state, name: null, seen: Date.now() });
  else others.delete(event.agent_id);
  render();
}

// --- "Send anyway?" ----------------------------------------------------------------------------

function whyAsk(c) {
  const typist = present().find(([, who]) => who.state === "typing");
  if (typist) return `${nameOf(typist[0], typist[1].name)} is typing here. Send anyway?`;
  const assignee = c.assigned_agent_id;
  if (assignee !== null && assignee !== undefined && assignee !== ctx.myId && confirmedAssignee.get(c.id) !== assignee) {
    return `This conversation is assigned to ${nameOf(assignee)}. Send anyway?`;
  }
  return null;
}

// Pressing Send ends my typing: the others see me viewing again at once.
function doneTyping(allowed) {
  if (allowed) {
    clearTimeout(idleTimer);
    setState("viewing");
  }
  return allowed;
}

async function ask(c) {
  return doneTyping(await question(c));
}

async function question(shown) {
  await follow(); // a thread opened a moment ago: who is there, first
  if (!shown || shown.id !== openId) return true;
  // as it is now (an assignment a moment ago may not have reached this page yet)
  const c = await ctx
    .api(`/conversation?conversation_id=${shown.id}`)
    .then((answer) => answer.conversation)
    .catch(() => shown);
  const question = whyAsk(c);
  if (!question) return true;
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const done = (answer) => {
      confirmBox.hidden = true;
      confirmBox.replaceChildren();
      asking = null;
      if (answer && c.assigned_agent_id !== null) confirmedAssignee.set(c.id, c.assigned_agent_id);
      $("reply").focus();
      resolve(answer);
    };
    const yes = el("button", { type: "button", class: "send-anyway", onclick: () => done(true) }, "Send anyway");
    const no = el("button", { type: "button", class: "send-cancel", onclick: () => done(false) }, "Cancel");
    confirmBox.replaceChildren(el("span", { class: "send-confirm-text" }, question), yes, no);
    confirmBox.onkeydown = (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        done(false);
      }
    };
    confirmBox.hidden = false;
    yes.focus();
  });
  return asking;
}

// --- Settings · Typing indicators (admins) -----------------------------------------------------

function settingsSection(box) {
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const toggle = el("input", { id: "typing-enabled", type: "checkbox", disabled: true });
  const saved = el("span", { class: "typing-saved", role: "status" });
  toggle.addEventListener("change", async () => {
    error.hidden = true;
    saved.textContent = "";
    try {
      const answer = await ctx.api("/typing-settings", { method: "PUT", json: { enabled: toggle.checked } });
      toggle.checked = answer.typing_indicators.enabled;
      saved.textContent = "Saved";
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
  box.replaceChildren(
    el(
      "p",
      { class: "typing-setting" },
      toggle,
      " ",
      el("label", { for: "typing-enabled" }, "Show customers “typing…” on WhatsApp while an agent types a reply"),
      " ",
      saved,
    ),
    el("p", { class: "hint" }, "Meta's typing indicator: it also marks the customer's message read; sent only inside the 24-hour window, for an unanswered message."),
    error,
  );
  ctx
    .api("/typing-settings")
    .then((answer) => {
      toggle.checked = answer.typing_indicators.enabled;
      toggle.disabled = false;
    })
    .catch((e) => {
      error.textContent = e.message;
      error.hidden = false;
    });
}

export function init(context) {
  ctx = context;
  line = el("p", { id: "thread-activity", class: "thread-activity", role: "status", "aria-live": "polite", hidden: true });
  const who = document.querySelector(".thread-head .who");
  if (who) who.append(line);
  confirmBox = el("div", { id: "send-confirm", class: "send-confirm", role: "alertdialog", "aria-label": "Send anyway?", hidden: true });
  const form = $("composer");
  form.parentNode.insertBefore(confirmBox, form);
  $("reply").addEventListener("input", typed);
  ctx.addBeforeSend(ask);
  ctx.onEvent(onEvent);
  setInterval(follow, 1000);
  setInterval(render, 1000);
  setInterval(load, POLL_MS);
  window.addEventListener("pagehide", leaveOnPagehide);
  ctx
    .api("/me")
    .then((me) => {
      if (me.agent === null || me.agent.role === "admin") ctx.addSettingsSection({ id: "typing", title: "Typing indicators", render: settingsSection });
    })
    .catch(console.warn);
}
