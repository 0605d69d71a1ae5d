// Presence and routing (issue 16): a heartbeat every 20 s while the page is open (and when it becomes
// visible again), the top bar's Online/Away switch for me and the team's dots (who is online), a dot by
// the assignee in the list and the thread header, and Settings · Routing (admins change the rules; an
// agent sees them read-only).

const BEAT_MS = 20_000;
const LABELS = { online: "online", away: "away", offline: "offline" };

let ctx = null;
let me = { away: false, state: "offline" };
const team = new Map(); // agent id -> { name, state, last_seen_at }
let toggle = null;
let strip = null;

function dot(agentId, extra = "") {
  const who = team.get(agentId);
  const state = who ? who.state : "offline";
  const name = who ? who.name : `Agent ${agentId}`;
  return ctx.el("span", {
    class: `presence-dot ${extra}`.trim(),
    dataset: { agentId: String(agentId), state },
    title: `${name} is ${LABELS[state]}`,
    role: "img",
    "aria-label": `${name} is ${LABELS[state]}`,
  });
}

// Every dot on the page follows the team's states (the list and header keep their nodes).
function paintDots() {
  for (const node of document.querySelectorAll(".presence-dot[data-agent-id]")) {
    const who = team.get(Number(node.dataset.agentId));
    const state = who ? who.state : "offline";
    node.dataset.state = state;
    const text = `${who ? who.name : "Agent"} is ${LABELS[state]}`;
    node.title = text;
    node.setAttribute("aria-label", text);
  }
}

function renderTeam() {
  const order = { online: 0, away: 1, offline: 2 };
  const agents = [...team.entries()].sort((a, b) => order[a[1].state] - order[b[1].state] || a[1].name.localeCompare(b[1].name));
  const online = agents.filter(([, a]) => a.state === "online").length;
  strip.replaceChildren(
    ctx.el("span", { class: "presence-count" }, `${online} online`),
    ctx.el(
      "ul",
      { class: "presence-team", "aria-label": "Who is online" },
      agents.map(([id, a]) =>
        ctx.el("li", { dataset: { agentId: String(id), state: a.state } }, dot(id), ctx.el("span", { class: "presence-name" }, id === ctx.myId ? `${a.name} (you)` : a.name)),
      ),
    ),
  );
  paintDots();
}

function renderToggle() {
  const away = me.away;
  toggle.setAttribute("aria-pressed", away ? "true" : "false");
  toggle.dataset.state = away ? "away" : "online";
  toggle.replaceChildren(ctx.el("span", { class: "presence-dot", dataset: { state: away ? "away" : "online" }, "aria-hidden": "true" }), away ? "Away" : "Online");
  toggle.title = away ? "You are away: no conversations are assigned to you automatically. Click to be online." : "You are online. Click to go away.";
}

async function loadTeam() {
  try {
    const answer = await ctx.api("/presence");
    team.clear();
    for (const a of answer.agents) team.set(a.agent_id, { name: a.name, state: a.state, last_seen_at: a.last_seen_at });
    renderTeam();
  } catch (error) {
    console.warn("presence", error);
  }
}

async function beat(body) {
  try {
    const answer = await ctx.api("/presence", { method: "POST", json: body || {} });
    me = answer.presence;
    renderToggle();
  } catch (error) {
    console.warn("heartbeat", error);
  }
  await loadTeam();
}

// --- Settings · Routing ---------------------------------------------------------------------------

const MODES = [
  ["off", "Off: nobody is assigned automatically"],
  ["round_robin", "Round-robin among online agents"],
  ["least_loaded", "Least loaded: fewest open conversations"],
];

async function routingSection(container, admin) {
  const error = ctx.el("p", { class: "form-error", role: "alert", hidden: true });
  const saved = ctx.el("p", { class: "routing-saved", role: "status", "aria-live": "polite" });
  let rules;
  let agents;
  try {
    [rules, agents] = await Promise.all([ctx.api("/routing").then((a) => a.routing), ctx.api("/agents").then((a) => a.agents)]);
  } catch (e) {
    error.hidden = false;
    error.textContent = e.message;
    container.replaceChildren(error);
    return;
  }
  const disabled = !admin;
  const mode = ctx.el("select", { id: "routing-mode", disabled }, MODES.map(([value, text]) => ctx.el("option", { value, selected: rules.mode === value }, text)));
  const capacity = ctx.el("input", { id: "routing-capacity", type: "number", min: "0", max: "1000", value: String(rules.capacity), disabled });
  const returning = ctx.el("input", { id: "routing-returning", type: "checkbox", checked: rules.returning_customer, disabled });
  const overrides = agents.map((a) =>
    ctx.el("input", {
      type: "number",
      min: "0",
      max: "1000",
      placeholder: "default",
      value: rules.capacities[String(a.id)] ?? "",
      dataset: { agentId: String(a.id) },
      "aria-label": `Capacity of ${a.name}`,
      disabled,
    }),
  );
  const table = ctx.el(
    "table",
    { class: "routing-capacities" },
    ctx.el("thead", {}, ctx.el("tr", {}, ctx.el("th", { scope: "col" }, "Agent"), ctx.el("th", { scope: "col" }, "Now"), ctx.el("th", { scope: "col" }, "Capacity"))),
    ctx.el(
      "tbody",
      {},
      agents.map((a, i) => ctx.el("tr", {}, ctx.el("td", {}, a.name), ctx.el("td", {}, dot(a.id), " ", LABELS[team.get(a.id)?.state || "offline"]), ctx.el("td", {}, overrides[i]))),
    ),
  );
  const form = ctx.el(
    "form",
    { class: "routing-form" },
    ctx.el("label", { for: "routing-mode" }, "Auto-assignment"),
    mode,
    ctx.el("label", { for: "routing-capacity" }, "Capacity (most open conversations each)"),
    capacity,
    ctx.el("label", { class: "inline" }, returning, " A returning customer goes back to their agent (if online and under capacity)"),
    ctx.el("p", { class: "hint" }, "Only online agents (not away) are given conversations; what nobody can take waits and goes out oldest first when someone has room. Outside business hours nothing is assigned."),
    table,
    admin ? ctx.el("button", { type: "submit", id: "routing-save" }, "Save rules") : ctx.el("p", { class: "hint" }, "Only an admin can change these rules."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    saved.textContent = "";
    const capacities = {};
    for (const input of overrides) if (input.value !== "") capacities[input.dataset.agentId] = Number(input.value);
    try {
      const answer = await ctx.api("/routing", {
        method: "PUT",
        json: { mode: mode.value, capacity: Number(capacity.value), capacities, returning_customer: returning.checked },
      });
      saved.textContent = answer.assigned ? `Saved; ${answer.assigned} waiting conversation(s) assigned.` : "Saved.";
    } catch (e) {
      error.hidden = false;
      error.textContent = e.message;
    }
  });
  container.replaceChildren(form, error, saved);
}

export async function init(context) {
  ctx = context;
  toggle = ctx.el("button", { type: "button", id: "presence-toggle", class: "link-button presence-toggle", "aria-pressed": "false" });
  toggle.addEventListener("click", () => beat({ away: !me.away }));
  strip = ctx.el("div", { id: "presence", class: "presence-strip" });
  ctx.addTopbarItem(toggle);
  ctx.addTopbarItem(strip);
  renderToggle();

  ctx.addListBadge((c) => (c.assigned_agent_id !== null && c.assigned_agent_id !== undefined ? dot(c.assigned_agent_id, "list") : null));
  const head = ctx.el("span", { class: "presence-head", id: "presence-head" });
  ctx.addHeadPart(head, (c) => {
    if (!c || c.assigned_agent_id === null || c.assigned_agent_id === undefined) {
      head.replaceChildren();
      return;
    }
    const who = team.get(c.assigned_agent_id);
    head.replaceChildren(dot(c.assigned_agent_id, "head"), ctx.el("span", { class: "presence-head-text" }, who ? `${who.name} ${LABELS[who.state]}` : ""));
  });

  ctx.onEvent((event) => {
    if (event.kind === "presence.updated") loadTeam();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") beat();
  });
  setInterval(() => beat(), BEAT_MS);
  await beat();

  try {
    const who = await ctx.api("/me");
    const admin = who.agent === null || who.agent.role === "admin";
    ctx.addSettingsSection({ id: "routing", title: "Routing", render: (container) => routingSection(container, admin) });
  } catch (error) {
    console.warn("routing settings", error);
  }
}
