import { UNREACHABLE, api } from "./api.js";
import { hideSendError, showSendError } from "./composer.js";
import { $, el, idempotencyKey } from "./dom.js";
import { state } from "./state.js";
import { openConversation, refreshThread } from "./thread.js";

export function templateCost(template) {
  const category = template && template.category ? String(template.category).toLowerCase() : "";
  const c = state.newChat === null ? state.current : null;
  const known = c && c.reply_cost && c.reply_cost.templates ? c.reply_cost.templates[category] : null;
  if (known) return known;
  if (!category) return null;
  // A chat this inbox does not have yet: no window is open, so every template is charged.
  return { charged: true, note: `Charged at Meta's ${category} rate (no customer service window is open)` };
}

export function renderTemplateCost() {
  const cost = templateCost(selectedTemplate());
  const hint = $("template-cost");
  hint.hidden = !cost;
  if (!cost) return;
  hint.dataset.charged = String(Boolean(cost.charged));
  hint.textContent = `${cost.charged ? "Charged" : "Free"} · ${cost.note}`;
}

// "Open chat" on a contact card's number: its conversation when there is one; a number that has
// never written can only be sent a template, and that send starts the conversation.
export async function openChat(waId) {
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

// "+14155550123" from what an agent types ("+1 (415) 555-0123", "0014155550123"), or null.
export function phoneNumber(text) {
  let digits = String(text || "").replace(/[\s().\-]/g, "");
  if (digits.startsWith("00")) digits = digits.slice(2);
  else if (digits.startsWith("+")) digits = digits.slice(1);
  return /^[1-9][0-9]{6,14}$/.test(digits) ? "+" + digits : null;
}

// The "New conversation" button: a number typed in the template dialog, then a template to it (the only
// message WhatsApp lets a business start a conversation with).
export function startNewConversation() {
  state.newChat = "";
  state.newChatInput = true;
  $("template-to").value = "";
  $("template-to-row").hidden = false;
  $("template-title").textContent = "New conversation: send a template";
  openTemplates().then(() => {
    if (state.newChatInput) $("template-to").focus();
  });
}

export function startChat(number) {
  state.newChat = number;
  openTemplates().then(() => {
    if (state.newChat === number) $("template-title").textContent = `Start a chat with ${number}: send a template`;
  });
}

// --- templates ------------------------------------------------------------------------------

export async function openTemplates() {
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

export function templateError(text) {
  $("template-error").textContent = text;
  $("template-error").hidden = false;
}

export function selectedTemplate() {
  const index = Number($("template-select").value);
  return state.templates && Number.isInteger(index) ? state.templates[index] : null;
}

export function paramInput(group, index, label, type = "text", name = null) {
  const id = `tp-${group}-${index}`;
  const dataset = name === null ? { group, index: String(index) } : { group, index: String(index), name };
  return el(
    "div",
    { class: "param" },
    el("label", { for: id }, label),
    el("input", { id, type, required: true, dataset }),
  );
}

export function renderTemplateParams() {
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

// One send at a time: a second click (or Enter) while the first is on its way does nothing, and
// sending the same template with the same fields again reuses its Idempotency-Key, so Meta gets it once.
let inFlight = false;
let lastSend = { body: "", key: "" };

export async function sendTemplate(event) {
  event.preventDefault();
  if (inFlight) return;
  const template = selectedTemplate();
  let to = state.newChat; // a contact card's number with no conversation yet: this send starts it
  if (state.newChatInput) {
    // "New conversation": the number the agent typed, with its country code.
    to = phoneNumber($("template-to").value);
    if (!to) {
      templateError("Enter the WhatsApp number with its country code, e.g. +14155550123.");
      $("template-to").focus();
      return;
    }
  }
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
  const json = { ...(to ? { phone_number: to } : { conversation_id: state.currentId }), type: "template", template: { name: template.name, language: template.language, parameters } };
  const body = JSON.stringify(json);
  if (lastSend.body !== body) lastSend = { body, key: idempotencyKey() };
  inFlight = true;
  $("template-send").disabled = true;
  try {
    await api("/send", { method: "POST", json, headers: { "Idempotency-Key": lastSend.key } });
    lastSend = { body: "", key: "" }; // sent: the same fields again later are a new message
    $("template-dialog").close();
    hideSendError();
    if (to) openChat(to).catch(console.warn);
  } catch (error) {
    templateError(error.message);
  } finally {
    inFlight = false;
    $("template-send").disabled = false;
    refreshThread({ toBottom: true });
  }
}

export function init() {
  $("template-open").addEventListener("click", openTemplates);
  $("template-select").addEventListener("change", renderTemplateParams);
  $("template-form").addEventListener("submit", sendTemplate);
  $("template-cancel").addEventListener("click", () => $("template-dialog").close());
  $("template-dialog").addEventListener("close", () => {
    if (state.newChat === null) return;
    state.newChat = null;
    state.newChatInput = false;
    $("template-to-row").hidden = true;
    $("template-title").textContent = "Send a template";
  });
  $("new-conversation").addEventListener("click", startNewConversation);
  $("template-to").addEventListener("input", () => {
    $("template-error").hidden = true;
  });
}
