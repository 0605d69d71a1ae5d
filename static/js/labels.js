// Labels (issue 15): coloured chips in the list and in the thread header, an "add label" picker on the
// open conversation, a label filter above the list with the count of each label, and, for admins, the
// "Labels" section of the settings dialog (create, rename, recolour, delete).
// Names reach the page as text (el()); a label's colour is set through the CSSOM (the CSP forbids
// inline style attributes) and only as the #rrggbb the server validated.

import { api } from "./api.js";
import { el, forgetOthers, keyedNode, placeChildren } from "./dom.js";
import { state } from "./state.js";

const COLOUR = /^#[0-9a-f]{6}$/;
let ctx = null;
let labels = []; // GET /labels, by name
let counts = {}; // label id -> conversations not closed carrying it (the list's label_counts)
let filter = null; // the <select> above the list
const filterOptions = new Map(); // label id ("" for all) -> its <option>
let picker = null; // the open conversation's picker panel
state.label = ""; // the list's label filter: a label id, or "" for every conversation

function coloured(node, colour) {
  if (COLOUR.test(colour || "")) node.style.setProperty("--label-colour", colour);
  return node;
}

export function chip(label, ...extra) {
  return coloured(
    el(
      "span",
      { class: "label-chip", dataset: { labelId: String(label.id) } },
      el("span", { class: "label-dot", "aria-hidden": "true" }),
      el("span", { class: "label-name" }, label.name),
      ...extra,
    ),
    label.colour,
  );
}

async function loadLabels() {
  const answer = await api("/labels");
  labels = answer.labels;
  if (state.label && !labels.some((l) => String(l.id) === state.label)) {
    state.label = ""; // deleted meanwhile
    ctx.refreshList();
  }
  renderFilter();
  renderPicker();
}

// --- the list: chips on each row, the filter with counts -------------------------------------

function listChips(c) {
  if (!c.labels || !c.labels.length) return null;
  return el("span", { class: "label-chips", "aria-label": `Labels: ${c.labels.map((l) => l.name).join(", ")}` }, c.labels.map((l) => chip(l)));
}

function renderFilter() {
  if (!filter) return;
  // Keyed by label id (this runs with every list refresh): only an option whose text (its count) changed
  // is rebuilt, the others stay as they are, and so does the choice.
  const option = (value, text) => keyedNode(filterOptions, value, text, () => el("option", { value }, text));
  const options = [option("", "All labels")];
  for (const label of labels) {
    const n = counts[String(label.id)] || 0;
    options.push(option(String(label.id), n ? `${label.name} (${n})` : label.name));
  }
  placeChildren(filter, options);
  forgetOthers(filterOptions, options);
  if (filter.value !== state.label) filter.value = state.label;
  filter.parentElement.hidden = labels.length === 0 && !state.label;
}

function buildFilter() {
  filter = el("select", {
    id: "label-filter",
    onchange: () => {
      state.label = filter.value;
      ctx.refreshList();
    },
  });
  const box = el("div", { class: "label-filter", hidden: true }, el("label", { for: "label-filter", class: "visually-hidden" }, "Filter by label"), filter);
  document.querySelector(".list-tools")?.append(box);
}

// --- the open conversation: its chips and the picker -----------------------------------------

async function change(conversation, label, add) {
  try {
    const answer = await api(add ? "/add-label" : "/remove-label", {
      method: "POST",
      json: { conversation_id: conversation.id, label: label.id },
    });
    if (state.current && state.current.id === answer.conversation.id) {
      state.current.labels = answer.conversation.labels;
      ctx.renderHead();
    }
    ctx.refreshList();
  } catch (error) {
    ctx.showError(`The label could not be ${add ? "added" : "removed"}: ${error.message}`);
  }
}

function renderHeadChips(node, c) {
  const chips = (c.labels || []).map((label) =>
    chip(
      label,
      el(
        "button",
        {
          type: "button",
          class: "label-remove",
          "aria-label": `Remove label ${label.name}`,
          title: `Remove label ${label.name}`,
          onclick: () => change(c, label, false),
        },
        "×",
      ),
    ),
  );
  node.querySelector(".label-chips").replaceChildren(...chips);
}

function renderPicker() {
  if (!picker || picker.hidden || !state.current) return;
  const c = state.current;
  const on = new Set((c.labels || []).map((l) => l.id));
  const focused = picker.contains(document.activeElement) ? document.activeElement.dataset.labelId : undefined;
  const query = picker.querySelector("input").value.trim().toLowerCase();
  const shown = labels.filter((l) => !query || l.name.toLowerCase().includes(query));
  const items = shown.map((label) =>
    el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          role: "menuitemcheckbox",
          "aria-checked": String(on.has(label.id)),
          dataset: { labelId: String(label.id) },
          onclick: () => change(c, label, !on.has(label.id)),
        },
        el("span", { class: "label-check", "aria-hidden": "true" }, on.has(label.id) ? "✓" : ""),
        chip(label),
      ),
    ),
  );
  const empty = labels.length ? "No label matches." : "No labels yet: an admin creates them in Settings.";
  picker.querySelector("ul").replaceChildren(...(items.length ? items : [el("li", { class: "hint" }, empty)]));
  if (focused) picker.querySelector(`button[data-label-id="${CSS.escape(focused)}"]`)?.focus(); // kept across renders
}

function closePicker() {
  if (picker && !picker.hidden) {
    picker.hidden = true;
    picker.previousElementSibling.setAttribute("aria-expanded", "false");
  }
}

function buildHead() {
  const search = el("input", { type: "search", placeholder: "Find a label", "aria-label": "Find a label", oninput: () => renderPicker() });
  picker = el("div", { class: "label-picker", id: "label-picker", role: "dialog", "aria-label": "Labels of this conversation", hidden: true }, search, el("ul", { role: "menu" }));
  const open = el(
    "button",
    {
      type: "button",
      id: "label-add",
      "aria-haspopup": "true",
      "aria-expanded": "false",
      "aria-controls": "label-picker",
      onclick: () => {
        if (!picker.hidden) return closePicker();
        picker.hidden = false;
        open.setAttribute("aria-expanded", "true");
        search.value = "";
        renderPicker();
        search.focus();
      },
    },
    "+ Label",
  );
  const node = el("span", { class: "thread-labels" }, el("span", { class: "label-chips" }), el("span", { class: "label-picker-wrap" }, open, picker));
  // Escape closes the picker first (before the shell's Escape leaves the thread), wherever the focus is.
  window.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Escape" && !picker.hidden) {
        event.stopPropagation();
        closePicker();
        open.focus();
      }
    },
    true,
  );
  document.addEventListener("click", (event) => {
    if (!node.contains(event.target)) closePicker();
  });
  let shownId = null;
  ctx.addHeadPart(node, (c) => {
    if (c.id !== shownId) closePicker();
    shownId = c.id;
    renderHeadChips(node, c);
    renderPicker();
  });
}

// --- settings: the admins' label manager -----------------------------------------------------

function settingsSection(box) {
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const fail = (e) => {
    error.textContent = e.message;
    error.hidden = false;
  };
  const done = async () => {
    await loadLabels();
    settingsSection(box);
    ctx.refreshList();
    if (state.currentId !== null) ctx.refreshThread();
  };
  const name = el("input", { id: "label-new-name", type: "text", maxlength: "50", required: true, autocomplete: "off" });
  const colour = el("input", { id: "label-new-colour", type: "color", value: "#2563eb" });
  const form = el(
    "form",
    {
      class: "label-new",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api("/labels", { method: "POST", json: { name: name.value, colour: colour.value } });
          await done();
          box.querySelector("#label-new-name")?.focus();
        } catch (e) {
          fail(e);
        }
      },
    },
    el("label", { for: "label-new-name" }, "New label"),
    name,
    el("label", { for: "label-new-colour", class: "visually-hidden" }, "Colour of the new label"),
    colour,
    el("button", { type: "submit" }, "Add label"),
  );
  const rows = labels.map((label) => {
    const rename = el("input", { type: "text", value: label.name, maxlength: "50", "aria-label": `Name of ${label.name}` });
    const recolour = el("input", { type: "color", value: label.colour, "aria-label": `Colour of ${label.name}` });
    const remove = el("button", { type: "button", class: "danger" }, "Delete");
    remove.addEventListener("click", async () => {
      if (remove.dataset.confirm !== "yes") {
        remove.dataset.confirm = "yes";
        remove.textContent = `Delete “${label.name}” from every conversation?`;
        return;
      }
      try {
        await api(`/labels/${label.id}`, { method: "DELETE" });
        await done();
      } catch (e) {
        fail(e);
      }
    });
    const save = el(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            await api(`/labels/${label.id}`, { method: "PATCH", json: { name: rename.value, colour: recolour.value } });
            await done();
          } catch (e) {
            fail(e);
          }
        },
      },
      "Save",
    );
    const n = label.conversations + label.closed_conversations;
    return el(
      "li",
      { class: "label-row", dataset: { labelId: String(label.id) } },
      chip(label),
      rename,
      recolour,
      save,
      remove,
      el("span", { class: "hint" }, `${n} conversation${n === 1 ? "" : "s"}`),
    );
  });
  box.replaceChildren(form, error, rows.length ? el("ul", { class: "label-rows" }, rows) : el("p", { class: "hint" }, "No labels yet."));
}

// --- wiring ----------------------------------------------------------------------------------

export function init(context) {
  ctx = context;
  ctx.addListBadge(listChips);
  ctx.addListQuery(
    (params) => {
      if (state.label) params.set("label", state.label);
    },
    (answer) => {
      counts = answer.label_counts || {};
      renderFilter();
    },
  );
  buildFilter();
  buildHead();
  ctx.onEvent((event) => {
    if (event.kind === "labels.updated") {
      loadLabels()
        .then(() => state.currentId !== null && ctx.refreshThread())
        .catch(console.warn);
    }
  });
  loadLabels().catch(console.warn);
  api("/me")
    .then((me) => {
      if (me.agent === null || me.agent.role === "admin") ctx.addSettingsSection({ id: "labels", title: "Labels", render: settingsSection });
    })
    .catch(console.warn);
}
