// Canned replies: typing "/" at the start of the reply box opens a searchable picker (↑/↓, Enter or
// Tab picks, Esc closes); the server fills the picked reply's variables for the open conversation
// (POST /canned-replies/<id>/render) and the filled text replaces the "/..." in the box, to be edited
// and sent as usual. Admins manage the replies in the Settings dialog; agents see them read-only.

import { autosize, hideSendError, setDraft, showSendError } from "./composer.js";
import { $, debounce, el } from "./dom.js";
import { state } from "./state.js";

let ctx = null;
let picker = null; // the listbox node
let items = []; // the replies shown
let active = 0;
let seq = 0;
let amAdmin = false;

const query = () => {
  const value = $("reply").value;
  return value.startsWith("/") && !value.includes("\n") ? value.slice(1) : null;
};

function close() {
  picker.hidden = true;
  items = [];
  $("reply").removeAttribute("aria-activedescendant");
  $("reply").setAttribute("aria-expanded", "false");
}

function highlight(index) {
  active = Math.max(0, Math.min(items.length - 1, index));
  Array.from(picker.children).forEach((li, i) => {
    li.setAttribute("aria-selected", String(i === active));
    if (i === active) {
      $("reply").setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    }
  });
}

function render(found) {
  items = found;
  if (!found.length) {
    picker.replaceChildren(el("li", { class: "canned-empty", role: "option", "aria-disabled": "true" }, "No canned reply matches"));
  } else {
    picker.replaceChildren(
      ...found.map((reply, i) =>
        el(
          "li",
          {
            id: `canned-option-${reply.id}`,
            role: "option",
            class: "canned-option",
            dataset: { code: reply.code },
            onmousedown: (event) => event.preventDefault(), // keep the focus in the reply box
            onclick: () => pick(i),
          },
          el("span", { class: "canned-code" }, "/" + reply.code),
          el("span", { class: "canned-title" }, reply.title),
          el("span", { class: "canned-body" }, reply.body),
        ),
      ),
    );
  }
  picker.hidden = false;
  $("reply").setAttribute("aria-expanded", "true");
  highlight(0);
}

const search = debounce(async () => {
  const q = query();
  if (q === null) return close();
  const mine = ++seq;
  try {
    const answer = await ctx.api(`/canned-replies?q=${encodeURIComponent(q)}`);
    if (mine === seq && query() !== null) render(answer.canned_replies);
  } catch (error) {
    console.warn(error);
  }
}, 120);

async function pick(index) {
  const reply = items[index];
  const id = state.currentId;
  if (!reply || id === null) return;
  close();
  try {
    const answer = await ctx.api(`/canned-replies/${reply.id}/render`, { method: "POST", json: { conversation_id: id } });
    if (id !== state.currentId) return;
    $("reply").value = answer.text;
    setDraft(id, answer.text);
    autosize();
    $("reply").focus();
    if (answer.missing.length) {
      showSendError(`/${reply.code}: nothing to fill ${answer.missing.map((m) => `{{${m}}}`).join(", ")} with here; check the text before sending.`, "note");
    } else {
      hideSendError();
    }
  } catch (error) {
    showSendError(error.message);
  }
}

// Runs before the composer's own keys (capture on its form): Enter picks instead of sending.
function onKey(event) {
  if (event.target !== $("reply") || picker.hidden) return;
  const keys = { ArrowDown: () => highlight(active + 1), ArrowUp: () => highlight(active - 1), Escape: close };
  if (keys[event.key]) {
    keys[event.key]();
  } else if ((event.key === "Enter" && !event.shiftKey && !event.isComposing) || event.key === "Tab") {
    if (!items.length) return event.key === "Enter" ? (event.preventDefault(), event.stopPropagation()) : undefined;
    pick(active);
  } else {
    return;
  }
  event.preventDefault();
  event.stopPropagation();
}

// --- the settings section --------------------------------------------------------------------

function settingsSection(container) {
  const list = el("ul", { class: "canned-admin-list", "aria-label": "Canned replies" });
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const code = el("input", { id: "canned-code", placeholder: "refund", autocomplete: "off", maxlength: "32" });
  const title = el("input", { id: "canned-title", maxlength: "100" });
  const body = el("textarea", { id: "canned-body", rows: "4", maxlength: "4096" });
  const save = el("button", { type: "submit", id: "canned-save" }, "Add canned reply");
  const cancel = el("button", { type: "button", id: "canned-cancel", hidden: true }, "Cancel edit");
  let editing = null;

  const reset = () => {
    editing = null;
    code.value = title.value = body.value = "";
    save.textContent = "Add canned reply";
    cancel.hidden = true;
    error.hidden = true;
  };
  const load = async () => {
    const answer = await ctx.api("/canned-replies");
    list.replaceChildren(
      ...answer.canned_replies.map((reply) =>
        el(
          "li",
          { dataset: { code: reply.code } },
          el("div", { class: "canned-line" }, el("strong", { class: "canned-code" }, "/" + reply.code), " ", el("span", {}, reply.title)),
          el("div", { class: "canned-body" }, reply.body),
          amAdmin
            ? el(
                "div",
                { class: "canned-buttons" },
                el("button", { type: "button", class: "link-button", onclick: () => edit(reply), "aria-label": `Edit /${reply.code}` }, "Edit"),
                el("button", { type: "button", class: "link-button danger-link", onclick: (event) => remove(reply, event.currentTarget), "aria-label": `Delete /${reply.code}` }, "Delete"),
              )
            : null,
        ),
      ),
    );
    if (!answer.canned_replies.length) list.replaceChildren(el("li", { class: "empty" }, "No canned replies yet."));
  };
  const edit = (reply) => {
    editing = reply.id;
    code.value = reply.code;
    title.value = reply.title;
    body.value = reply.body;
    save.textContent = "Save changes";
    cancel.hidden = false;
    code.focus();
  };
  // Two clicks delete: the first asks "Really delete?" on the button itself.
  const remove = async (reply, button) => {
    if (button.dataset.armed !== "true") {
      button.dataset.armed = "true";
      button.textContent = "Really delete?";
      return;
    }
    try {
      await ctx.api(`/canned-replies/${reply.id}`, { method: "DELETE" });
      if (editing === reply.id) reset();
      await load();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
  const submit = async (event) => {
    event.preventDefault();
    const json = { code: code.value.trim(), title: title.value, body: body.value };
    try {
      if (editing === null) await ctx.api("/canned-replies", { method: "POST", json });
      else await ctx.api(`/canned-replies/${editing}`, { method: "PATCH", json });
      reset();
      await load();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
  cancel.addEventListener("click", reset);
  const help = "Variables: {{contact.name}}, {{contact.phone}}, {{agent.name}}, {{conversation.id}}. Agents type / and the code in the reply box.";
  const form = amAdmin
    ? el(
        "form",
        { class: "canned-form", onsubmit: submit },
        el("label", { for: "canned-code" }, "Code (a-z, 0-9, _ and -)"),
        code,
        el("label", { for: "canned-title" }, "Title"),
        title,
        el("label", { for: "canned-body" }, "Text"),
        body,
        el("p", { class: "hint" }, help),
        error,
        el("div", { class: "dialog-actions" }, cancel, save),
      )
    : el("p", { class: "hint" }, "Only an admin can add, change or delete canned replies. ", help);
  container.replaceChildren(list, form);
  load().catch((e) => {
    error.textContent = e.message;
    error.hidden = false;
  });
}

export function init(context) {
  ctx = context;
  picker = el("ul", { id: "canned-picker", class: "canned-picker", role: "listbox", "aria-label": "Canned replies", hidden: true });
  $("composer").before(picker);
  const reply = $("reply");
  reply.setAttribute("aria-controls", "canned-picker");
  reply.setAttribute("aria-autocomplete", "list");
  reply.setAttribute("aria-expanded", "false");
  reply.addEventListener("input", () => (query() === null ? close() : search()));
  reply.addEventListener("blur", () => setTimeout(() => document.activeElement !== reply && close(), 150));
  $("composer").addEventListener("keydown", onKey, true);
  context
    .api("/me")
    .then((me) => {
      amAdmin = !me.agent || me.agent.role === "admin";
    })
    .catch(console.warn);
  context.addSettingsSection({ id: "canned-replies", title: "Canned replies", render: settingsSection });
}
