// The contact panel: a side panel on the open conversation (the header's "Contact" button) with the
// business's name for the customer (editable; clearing it shows the WhatsApp profile name again), phone,
// user id and username, free key/value attributes (add, change, remove) and every conversation of the
// customer, closed ones and groups too, each opening with a click. GET /contact fills it.

import { $, el, keyedNode, placeChildren } from "./dom.js";
import { shortTime } from "./format.js";
import { state } from "./state.js";

let ctx = null;
let panel = null;
let shownFor = null; // the conversation id the panel shows
let seq = 0;

const isOpen = () => panel && !panel.hidden;

function field(label, value) {
  return [el("dt", {}, label), el("dd", { dataset: { field: label.toLowerCase().replace(/ /g, "-") } }, value || "—")];
}

function error(text) {
  const box = panel.querySelector(".contact-error");
  box.textContent = text;
  box.hidden = !text;
}

async function change(path, options) {
  try {
    const answer = await ctx.api(path, options);
    error("");
    return answer;
  } catch (e) {
    error(e.message);
    return null;
  }
}

function nameForm(contact) {
  const input = el("input", {
    id: "contact-name",
    value: contact.named_by_business ? contact.contact_name : "",
    placeholder: contact.contact_profile_name || "No name",
    maxlength: "200",
    autocomplete: "off",
  });
  const save = async (name) => {
    const answer = await change("/contact", { method: "POST", json: { conversation_id: contact.conversation_id, name } });
    if (answer) {
      show(answer.contact);
      ctx.refreshList();
      ctx.refreshThread();
    }
  };
  const group = contact.kind === "group";
  return el(
    "form",
    { class: "contact-name", onsubmit: (event) => (event.preventDefault(), save(input.value)) },
    el("label", { for: "contact-name" }, group ? "Group subject (set on WhatsApp)" : "Name (the business's own)"),
    group ? el("p", { id: "contact-name" }, contact.contact_name || "—") : input,
    group
      ? null
      : el(
          "div",
          { class: "contact-buttons" },
          el("button", { type: "submit", id: "contact-name-save" }, "Save name"),
          contact.named_by_business ? el("button", { type: "button", id: "contact-name-clear", onclick: () => save(null) }, "Clear") : null,
        ),
    group ? null : el("p", { class: "hint" }, "WhatsApp profile name: ", contact.contact_profile_name || "—"),
  );
}

function attributeRow(contact, attribute) {
  const value = el("input", { value: attribute.value, maxlength: "1000", "aria-label": `Value of ${attribute.key}` });
  const save = async () => {
    const answer = await change("/contact/attributes", {
      method: "PUT",
      json: { conversation_id: contact.conversation_id, key: attribute.key, value: value.value },
    });
    if (answer) load(true);
  };
  const remove = async () => {
    const params = new URLSearchParams({ conversation_id: contact.conversation_id, key: attribute.key });
    if (await change(`/contact/attributes?${params}`, { method: "DELETE" })) load(true);
  };
  return el(
    "li",
    { dataset: { key: attribute.key } },
    el("span", { class: "attr-key" }, attribute.key),
    value,
    el("button", { type: "button", class: "link-button", onclick: save, "aria-label": `Save ${attribute.key}` }, "Save"),
    el("button", { type: "button", class: "link-button danger-link", onclick: remove, "aria-label": `Remove ${attribute.key}` }, "Remove"),
  );
}

function attributes(contact) {
  const key = el("input", { id: "attr-new-key", placeholder: "key (e.g. plan)", maxlength: "64", autocomplete: "off", "aria-label": "New attribute key" });
  const value = el("input", { id: "attr-new-value", placeholder: "value", maxlength: "1000", "aria-label": "New attribute value" });
  const add = async (event) => {
    event.preventDefault();
    const answer = await change("/contact/attributes", {
      method: "PUT",
      json: { conversation_id: contact.conversation_id, key: key.value.trim(), value: value.value },
    });
    if (answer) load(true);
  };
  return el(
    "section",
    { class: "contact-attributes" },
    el("h4", {}, "Attributes"),
    el("ul", { class: "attr-list" }, contact.attributes.map((a) => attributeRow(contact, a))),
    el("form", { class: "attr-add", onsubmit: add }, key, value, el("button", { type: "submit", id: "attr-add" }, "Add")),
  );
}

function conversations(contact) {
  return el(
    "section",
    { class: "contact-conversations" },
    el("h4", {}, "Conversations"),
    el(
      "ul",
      { class: "contact-conv-list" },
      contact.conversations.map((c) =>
        el(
          "li",
          { dataset: { id: String(c.id) } },
          el(
            "button",
            {
              type: "button",
              class: "contact-conv",
              "aria-current": c.current ? "true" : null,
              disabled: c.current ? true : null,
              onclick: () => ctx.openConversation(c.id),
            },
            el("span", { class: "contact-conv-name" }, c.kind === "group" ? `Group · ${c.contact_name || "Group"}` : `#${c.id} ${c.contact_name || ""}`.trim()),
            el("span", { class: `status-chip ${c.status}` }, c.membership === "left" ? `${c.status} · left` : c.status),
            el("span", { class: "contact-conv-time" }, c.current ? "this one" : shortTime(c.last_message_at)),
          ),
        ),
      ),
    ),
  );
}

// Each section of the panel is kept while its data is unchanged (a live event for the open conversation
// reloads the contact; only a section whose data changed is rebuilt, so a focused button or a half-typed
// new attribute survives a customer's message).
const sections = new Map();

function show(contact) {
  shownFor = contact.conversation_id;
  const parts = [
    ["name", [contact.conversation_id, contact.kind, contact.contact_name, contact.contact_profile_name, contact.named_by_business], () => nameForm(contact)],
    [
      "ids",
      [contact.phone_number, contact.user_id, contact.username],
      () =>
        el(
          "dl",
          { class: "contact-ids" },
          ...field("Phone", contact.phone_number),
          ...field("User id", contact.user_id),
          ...field("Username", contact.username ? "@" + contact.username : null),
        ),
    ],
    ["attributes", [contact.conversation_id, contact.attributes], () => attributes(contact)],
    // what the list shows: the open conversation says "this one", not its time, so its new messages change nothing
    ["conversations", contact.conversations.map((c) => [c.id, c.kind, c.contact_name, c.status, c.membership, c.current || c.last_message_at]), () => conversations(contact)],
  ];
  const nodes = parts.map(([name, data, build]) => keyedNode(sections, name, JSON.stringify(data), build));
  placeChildren(panel.querySelector(".contact-body"), nodes);
}

async function load(force = false) {
  const id = state.currentId;
  if (!isOpen() || id === null) return;
  // a live update must not wipe what the agent is typing in the panel
  if (!force && shownFor === id && panel.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
  const mine = ++seq;
  try {
    const answer = await ctx.api(`/contact?conversation_id=${id}`);
    // ... nor what they began typing while the answer was on its way
    const typing = panel.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
    if (mine === seq && id === state.currentId && (force || shownFor !== id || !typing)) show(answer.contact);
  } catch (e) {
    if (mine === seq) error(e.message);
  }
}

function toggle(open) {
  panel.hidden = !open;
  $("contact-open").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("contact-open", open);
  if (open) load(true);
}

export function init(context) {
  ctx = context;
  panel = el(
    "aside",
    { id: "contact-panel", class: "contact-panel", "aria-label": "Contact", hidden: true },
    el(
      "header",
      {},
      el("h3", {}, "Contact"),
      el("button", { type: "button", id: "contact-close", class: "link-button", "aria-label": "Close the contact panel", onclick: () => toggle(false) }, "✕"),
    ),
    el("p", { class: "form-error contact-error", role: "alert", hidden: true }),
    el("div", { class: "contact-body" }),
  );
  $("thread-pane").append(panel);
  const button = el("button", { type: "button", id: "contact-open", "aria-expanded": "false", "aria-controls": "contact-panel", onclick: () => toggle(panel.hidden) }, "Contact");
  context.addHeadPart(button, (c) => {
    if (isOpen() && c.id !== shownFor) load(true);
  });
  context.onEvent((event) => {
    if (isOpen() && event.conversation_id === state.currentId) load();
  });
}
