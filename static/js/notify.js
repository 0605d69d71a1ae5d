// Notifications (opt-in): a desktop notification (the browser's Notification API) and a short sound
// (static/notify.wav) for a new customer message in a conversation that is mine or unassigned. Nothing
// for what agents send. The browser's permission is asked only when the agent turns them on.
// Other features raise their own through notify(kind, conversation, text), e.g. "mention".

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { displayName } from "./format.js";
import { hooks } from "./hooks.js";
import { myId, state } from "./state.js";
import { openConversation } from "./thread.js";

const KEY = `wa-inbox:notify:${myId}`;
const seen = new Set(); // message ids already notified (a reconnect can replay events)
let sound = null;
let memory = false; // on, when storage is disabled

function supported() {
  return typeof window.Notification === "function";
}

export function enabled() {
  try {
    return localStorage.getItem(KEY) === "on";
  } catch (_) {
    return false;
  }
}

function remember(on) {
  try {
    if (on) localStorage.setItem(KEY, "on");
    else localStorage.removeItem(KEY);
  } catch (_) {
    /* storage disabled: on for this page only */
  }
  memory = on;
}

const isOn = () => memory || enabled();

function render(note = "") {
  const button = $("notify-toggle");
  const on = isOn();
  button.setAttribute("aria-pressed", String(on));
  button.replaceChildren(
    el("span", { "aria-hidden": "true" }, on ? "🔔 " : "🔕 "),
    el("span", { class: "notify-label" }, on ? "Notifications on" : "Notifications off"),
  );
  const blocked = supported() && window.Notification.permission === "denied";
  button.title = note || (blocked
    ? "The browser blocks this site's notifications (see the site settings); the sound still plays"
    : on ? "A new customer message in your or an unassigned conversation: a notification and a sound"
      : "Get a notification and a sound for new customer messages in your and unassigned conversations");
}

async function toggle() {
  if (isOn()) {
    remember(false);
    render();
    return;
  }
  if (supported() && window.Notification.permission === "default") {
    try {
      await window.Notification.requestPermission(); // asked here only, on the agent's click
    } catch (error) {
      console.warn("notification permission", error);
    }
  }
  remember(true);
  unlockSound();
  render();
}

// Browsers play sound only after the agent did something on the page: the toggle's click is that.
function unlockSound() {
  if (!sound) sound = new Audio("/static/notify.wav");
  sound.load();
}

function playSound() {
  if (!sound) sound = new Audio("/static/notify.wav");
  try {
    sound.currentTime = 0;
    const playing = sound.play();
    if (playing && playing.catch) playing.catch(() => {});
  } catch (_) {
    /* no audio here */
  }
}

// The one way a notification is raised: kind "message" (here), "mention" (notes), or a feature's own.
export function notify(kind, conversation, text) {
  // The hook's listeners hear every one raised; the desktop notification and the sound only when on.
  for (const fn of hooks.notify) {
    try {
      fn(kind, conversation, text);
    } catch (error) {
      console.warn("notify hook", error);
    }
  }
  if (!isOn()) return;
  const name = conversation ? displayName(conversation) : "wa-inbox";
  const title = kind === "mention" ? `You were mentioned · ${name}` : name;
  if (supported() && window.Notification.permission === "granted") {
    try {
      const note = new window.Notification(title, {
        body: String(text || "").slice(0, 200),
        tag: conversation ? `wa-inbox:${conversation.id}` : "wa-inbox",
      });
      note.onclick = () => {
        window.focus();
        if (conversation) openConversation(conversation.id).catch(console.warn);
        if (note.close) note.close();
      };
    } catch (error) {
      console.warn("notification", error);
    }
  }
  playSound();
}

// A new message: is it a customer's, in a conversation that is mine or nobody's, and not in front of me?
async function onEvent(event) {
  if (event.kind !== "message.created" || !isOn() || event.message_id === null || seen.has(event.message_id)) return;
  seen.add(event.message_id);
  const id = event.conversation_id;
  if (id === state.currentId && document.visibilityState === "visible" && document.hasFocus()) return;
  try {
    const [conv, page] = await Promise.all([
      api(`/conversation?conversation_id=${id}`),
      api(`/messages?conversation_id=${id}&limit=5`),
    ]);
    const c = conv.conversation;
    const m = page.messages.find((x) => x.id === event.message_id);
    if (!m || m.direction !== "inbound") return; // an agent's send, an echo from the Business app...
    if (c.assigned_agent_id !== null && c.assigned_agent_id !== myId) return; // a colleague's
    const who = m.sender ? `${m.sender.name || m.sender.phone_number || "A participant"}: ` : "";
    notify("message", c, who + (m.text || `[${m.type}]`));
  } catch (error) {
    console.warn("notify", error);
  }
}

export function init(ctx) {
  $("notify-toggle").hidden = false;
  $("notify-toggle").addEventListener("click", () => toggle().catch(console.warn));
  ctx.onEvent((event) => {
    onEvent(event);
  });
  render();
}
