// Settings · Agents (issue 15), for admins only: create an agent (its key shown once, in a field to copy),
// deactivate or activate one, reset a key (shown once), make one an admin or an agent. An agent never
// sees this section (and the API would answer 403).

import { loadAgents } from "./list.js";

let ctx = null;

function keyBox(name, key) {
  const field = ctx.el("input", { type: "text", id: "new-key", class: "new-key", readonly: true, value: key, "aria-label": `Key of ${name}` });
  const copied = ctx.el("span", { class: "copied", role: "status", "aria-live": "polite" });
  const copy = ctx.el(
    "button",
    {
      type: "button",
      id: "copy-key",
      onclick: async () => {
        field.select();
        try {
          await navigator.clipboard.writeText(key);
          copied.textContent = "Copied";
        } catch (_) {
          copied.textContent = "Selected: press Ctrl+C to copy";
        }
      },
    },
    "Copy",
  );
  return ctx.el(
    "div",
    { class: "key-once", role: "note" },
    ctx.el("p", {}, ctx.el("strong", {}, `${name}'s key`), " — shown only this once: copy it now and hand it to them."),
    ctx.el("div", { class: "key-row" }, field, copy, copied),
  );
}

async function render(container) {
  const error = ctx.el("p", { class: "form-error", role: "alert", hidden: true });
  const shown = ctx.el("div", { class: "key-slot" });
  const tbody = ctx.el("tbody");
  const fail = (e) => {
    error.hidden = false;
    error.textContent = e.message;
  };
  const changed = () => {
    window.dispatchEvent(new Event("wa-inbox:agents-changed"));
    loadAgents().catch(console.warn);
  };

  async function act(path, json) {
    error.hidden = true;
    try {
      const answer = await ctx.api(path, { method: "POST", json });
      if (answer.key) shown.replaceChildren(keyBox(answer.agent.name, answer.key));
      changed();
    } catch (e) {
      fail(e);
    }
    await load();
  }

  function row(agent) {
    const me = agent.id === ctx.myId;
    const role = ctx.el(
      "select",
      { "aria-label": `Role of ${agent.name}`, disabled: me, onchange: (event) => act(`/agents/${agent.id}/role`, { role: event.target.value }) },
      ["agent", "admin"].map((r) => ctx.el("option", { value: r, selected: agent.role === r }, r)),
    );
    const toggle = agent.active
      ? ctx.el("button", { type: "button", disabled: me, onclick: () => act(`/agents/${agent.id}/deactivate`) }, "Deactivate")
      : ctx.el("button", { type: "button", onclick: () => act(`/agents/${agent.id}/activate`) }, "Activate");
    return ctx.el(
      "tr",
      { dataset: { agentId: String(agent.id) }, class: agent.active ? "" : "inactive" },
      ctx.el("td", {}, agent.name, me ? " (you)" : ""),
      ctx.el("td", {}, role),
      ctx.el("td", {}, agent.active ? "active" : "deactivated"),
      ctx.el(
        "td",
        { class: "agent-actions" },
        toggle,
        ctx.el(
          "button",
          {
            type: "button",
            onclick: () => {
              if (window.confirm(`Give ${agent.name} a new key? Their old key and their sessions stop working.`)) act(`/agents/${agent.id}/reset-key`);
            },
          },
          "Reset key",
        ),
      ),
    );
  }

  async function load() {
    try {
      const answer = await ctx.api("/agents?include_inactive=true");
      tbody.replaceChildren(...answer.agents.map(row));
    } catch (e) {
      fail(e);
    }
  }

  const name = ctx.el("input", { type: "text", id: "new-agent-name", maxlength: "100", required: true, autocomplete: "off" });
  const newRole = ctx.el("select", { id: "new-agent-role" }, ctx.el("option", { value: "agent" }, "agent"), ctx.el("option", { value: "admin" }, "admin"));
  const form = ctx.el(
    "form",
    { class: "new-agent" },
    ctx.el("label", { for: "new-agent-name" }, "Name"),
    name,
    ctx.el("label", { for: "new-agent-role" }, "Role"),
    newRole,
    ctx.el("button", { type: "submit" }, "Create agent"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) return;
    await act("/agents", { name: name.value.trim(), role: newRole.value });
    if (error.hidden) name.value = "";
  });
  container.replaceChildren(
    form,
    shown,
    error,
    ctx.el(
      "table",
      { class: "agents-table" },
      ctx.el("thead", {}, ctx.el("tr", {}, ["Agent", "Role", "State", ""].map((h) => ctx.el("th", { scope: "col" }, h)))),
      tbody,
    ),
  );
  await load();
}

export async function init(context) {
  ctx = context;
  try {
    const me = await ctx.api("/me");
    if (!me.agent || me.agent.role !== "admin") return;
  } catch (error) {
    console.warn("team settings", error);
    return;
  }
  ctx.addSettingsSection({ id: "agents", title: "Agents", render: (container) => render(container) });
}
