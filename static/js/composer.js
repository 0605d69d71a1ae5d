import { NOT_SENT, api } from "./api.js";
import { $, idempotencyKey } from "./dom.js";
import { sendAllowed } from "./hooks.js";
import { myId, state } from "./state.js";
import { refreshThread, renderWindow } from "./thread.js";

// --- drafts: each conversation keeps its own, in memory and in this tab's sessionStorage ----

export const draftKey = (id) => `wa-inbox:draft:${myId}:${id}`;

export function draftOf(id) {
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

export function setDraft(id, text) {
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
export function draftSent(id, text) {
  if (draftOf(id).trim() === text) setDraft(id, "");
  if (id === state.currentId) {
    $("reply").value = draftOf(id);
    autosize();
  }
}

// A thread folded into another of the same customer's: its draft goes along.
export function moveDraft(from, to) {
  const text = from === state.currentId ? $("reply").value : draftOf(from);
  if (text && !draftOf(to)) setDraft(to, text);
  setDraft(from, "");
  if (from === state.currentId) $("reply").value = "";
}

// Signing out leaves no customer's draft behind in the tab.
export function forgetDrafts() {
  state.drafts.clear();
  try {
    const prefix = "wa-inbox:draft:";
    for (const key of Object.keys(sessionStorage)) if (key.startsWith(prefix)) sessionStorage.removeItem(key);
  } catch (_) {
    /* storage disabled: nothing kept */
  }
}

// --- replying --------------------------------------------------------------------------------

export function startReply(m) {
  state.replyTo = m;
  $("reply-text").textContent = m.text || `[${m.type}]`;
  $("reply-bar").hidden = false;
  if (!$("reply").disabled) $("reply").focus();
}

export function cancelReply() {
  state.replyTo = null;
  $("reply-bar").hidden = true;
  $("reply-text").textContent = "";
}

export function showSendError(text, kind = "send") {
  const box = $("send-error");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}

export function hideSendError() {
  $("send-error").hidden = true;
  $("send-error").textContent = "";
}

// Sends go to the conversation whose draft it is, even if the agent moves on while it travels.
export async function sendText() {
  const id = state.currentId;
  if (!$("reply").value.trim() || id === null || state.sending.has(id)) return;
  state.sending.add(id); // held while the beforeSend checks ask (Enter pressed again sends nothing twice)
  const allowed = await sendAllowed(state.current);
  state.sending.delete(id);
  const text = $("reply").value.trim(); // as it is now: the agent may have edited it while asked
  if (!allowed || !text || id !== state.currentId) return;
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

export async function sendFile(file) {
  const id = state.currentId;
  if (!file || id === null) return;
  if (!(await sendAllowed(state.current)) || id !== state.currentId) {
    $("file").value = "";
    return;
  }
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

export function autosize() {
  const textarea = $("reply");
  textarea.style.height = "auto";
  textarea.style.height = Math.min(textarea.scrollHeight, 160) + "px";
}

export function init() {
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
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => sendFile($("file").files[0]));
  $("reply-cancel").addEventListener("click", cancelReply);
  document.querySelector("form.signout").addEventListener("submit", forgetDrafts);
}
