// Business hours: a line in the top bar ("Open now" / "Closed · opens Mon 09:00", from GET
// /business-hours), the Settings section where admins set the weekly hours, the time zone, holidays and
// the automatic reply outside hours (PUT /business-hours, PUT /away-reply; the server's 400 says what is
// wrong), read-only for agents, and "Automatic reply" on the bubbles the service sent by itself.

import { api } from "./api.js";
import { el } from "./dom.js";

const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const COMMON_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Madrid", "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo", "America/Mexico_City", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "Africa/Lagos"];
const REFRESH_MS = 60000;

let status = null; // the top bar's line
let amAdmin = false;

// "Mon 09:00" in the schedule's zone for a UTC 'YYYY-MM-DD HH:MM:SS'.
function openingText(stamp, zone) {
  const moment = new Date(stamp.replace(" ", "T") + "Z");
  try {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(moment);
    const part = (type) => (parts.find((p) => p.type === type) || {}).value || "";
    return `${part("weekday")} ${part("hour")}:${part("minute")}`;
  } catch {
    return stamp.slice(0, 16) + " UTC";
  }
}

function showStatus(answer) {
  const hours = answer.business_hours;
  if (!hours.enabled) {
    status.hidden = true;
    return;
  }
  status.hidden = false;
  status.dataset.open = String(answer.open_now);
  if (answer.open_now) {
    status.textContent = "Open now";
  } else {
    status.textContent = answer.next_opening ? `Closed · opens ${openingText(answer.next_opening, hours.timezone)}` : "Closed";
  }
  status.title = `Business hours (${hours.timezone})`;
}

async function refreshStatus() {
  try {
    showStatus(await api("/business-hours"));
  } catch (error) {
    console.warn(error);
  }
}

// <input type=time> cannot hold 24:00: a close at 00:00 means midnight, the end of the day.
const closeIn = (value) => (value === "24:00" ? "00:00" : value);
const closeOut = (value) => (value === "00:00" ? "24:00" : value);

function intervalRow(day, interval, readOnly) {
  const label = DAYS.find(([key]) => key === day)[1];
  const opens = el("input", { type: "time", class: "bh-open", value: interval.open, "aria-label": `${label} opens`, disabled: readOnly, required: true });
  const closes = el("input", { type: "time", class: "bh-close", value: closeIn(interval.close), "aria-label": `${label} closes`, disabled: readOnly, required: true });
  const row = el("li", { class: "bh-interval" }, opens, " – ", closes);
  if (!readOnly) {
    row.append(" ", el("button", { type: "button", class: "link-button danger-link", "aria-label": `Remove ${label} hours`, onclick: () => row.remove() }, "Remove"));
  }
  return row;
}

function holidayRow(day, readOnly) {
  const input = el("input", { type: "date", class: "bh-holiday", value: day, "aria-label": "Holiday", disabled: readOnly, required: true });
  const row = el("li", {}, input);
  if (!readOnly) row.append(" ", el("button", { type: "button", class: "link-button danger-link", "aria-label": `Remove holiday ${day || ""}`.trim(), onclick: () => row.remove() }, "Remove"));
  return row;
}

function zoneList() {
  let zones = COMMON_ZONES;
  try {
    if (typeof Intl.supportedValuesOf === "function") zones = Intl.supportedValuesOf("timeZone");
  } catch {
    // an older browser: the common ones
  }
  if (!zones.includes("UTC")) zones = ["UTC", ...zones];
  return el("datalist", { id: "bh-zones" }, zones.map((zone) => el("option", { value: zone })));
}

function settingsSection(container) {
  const readOnly = !amAdmin;
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const saved = el("span", { class: "hint", role: "status", "aria-live": "polite" });
  const now = el("p", { class: "hint", id: "bh-now" });
  const enabled = el("input", { type: "checkbox", id: "bh-enabled", disabled: readOnly });
  const zone = el("input", { id: "bh-timezone", list: "bh-zones", autocomplete: "off", maxlength: "64", disabled: readOnly, placeholder: "Europe/Berlin" });
  const days = el("div", { class: "bh-week" });
  const holidays = el("ul", { class: "bh-holidays", "aria-label": "Holidays" });
  const awayEnabled = el("input", { type: "checkbox", id: "away-enabled", disabled: readOnly });
  const awayText = el("textarea", { id: "away-text", rows: "3", maxlength: "4096", disabled: readOnly, placeholder: "Thanks for writing! We are closed now and answer from 9:00." });
  const awayPeriod = el("input", { type: "number", id: "away-period", min: "1", max: "720", step: "1", disabled: readOnly });

  const fill = (hours, away) => {
    enabled.checked = hours.business_hours.enabled;
    zone.value = hours.business_hours.timezone;
    days.replaceChildren(
      ...DAYS.map(([day, label]) => {
        const list = el("ul", { class: "bh-intervals" }, hours.business_hours.week[day].map((i) => intervalRow(day, i, readOnly)));
        const add = readOnly
          ? null
          : el("button", { type: "button", class: "link-button", "aria-label": `Add ${label} hours`, onclick: () => list.append(intervalRow(day, { open: "09:00", close: "17:00" }, false)) }, "Add hours");
        return el("fieldset", { class: "bh-day", dataset: { day } }, el("legend", {}, label), list, add);
      }),
    );
    holidays.replaceChildren(...hours.business_hours.holidays.map((d) => holidayRow(d, readOnly)));
    awayEnabled.checked = away.away_reply.enabled;
    awayText.value = away.away_reply.text;
    awayPeriod.value = String(away.away_reply.period_hours);
    now.textContent = hours.business_hours.enabled
      ? hours.open_now
        ? "Open now."
        : `Closed now${hours.next_opening ? `; opens ${openingText(hours.next_opening, hours.business_hours.timezone)} (${hours.business_hours.timezone})` : ""}.`
      : "Business hours are off: the inbox counts as always open.";
    showStatus(hours);
  };
  const collect = () => {
    const week = {};
    for (const fieldset of days.querySelectorAll(".bh-day")) {
      week[fieldset.dataset.day] = Array.from(fieldset.querySelectorAll(".bh-interval")).map((row) => ({
        open: row.querySelector(".bh-open").value,
        close: closeOut(row.querySelector(".bh-close").value),
      }));
    }
    return {
      hours: {
        enabled: enabled.checked,
        timezone: zone.value.trim(),
        week,
        holidays: Array.from(holidays.querySelectorAll(".bh-holiday")).map((input) => input.value),
      },
      away: { enabled: awayEnabled.checked, text: awayText.value, period_hours: Number(awayPeriod.value) },
    };
  };
  const load = async () => {
    const [hours, away] = await Promise.all([api("/business-hours"), api("/away-reply")]);
    fill(hours, away);
  };
  const submit = async (event) => {
    event.preventDefault();
    error.hidden = true;
    saved.textContent = "";
    const { hours, away } = collect();
    try {
      const storedHours = await api("/business-hours", { method: "PUT", json: hours });
      const storedAway = await api("/away-reply", { method: "PUT", json: away });
      fill(storedHours, storedAway);
      saved.textContent = "Saved.";
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
  const form = el(
    "form",
    { class: "bh-form", id: "bh-form", onsubmit: submit, novalidate: true },
    now,
    el("label", { class: "check" }, enabled, " Use business hours (off: always open)"),
    el("label", { for: "bh-timezone" }, "Time zone"),
    zone,
    zoneList(),
    el("p", { class: "hint" }, "Each day's opening hours in that zone; a day without hours is closed. A close at 00:00 means midnight."),
    days,
    el("h4", {}, "Holidays (closed all day)"),
    holidays,
    readOnly ? null : el("button", { type: "button", class: "link-button", id: "bh-add-holiday", onclick: () => holidays.append(holidayRow("", false)) }, "Add holiday"),
    el("h4", {}, "Automatic reply outside hours"),
    el("label", { class: "check" }, awayEnabled, " Answer customers who write while closed"),
    el("label", { for: "away-text" }, "Text"),
    awayText,
    el("label", { for: "away-period" }, "At most once per conversation every (hours)"),
    awayPeriod,
    el("p", { class: "hint" }, "Sent while the customer's 24-hour window is open; never to groups, imported history or blocked customers."),
    error,
    readOnly
      ? el("p", { class: "hint" }, "Only an admin can change business hours and the automatic reply.")
      : el("div", { class: "dialog-actions" }, saved, el("button", { type: "submit", id: "bh-save" }, "Save business hours")),
  );
  container.replaceChildren(form);
  load().catch((e) => {
    error.textContent = e.message;
    error.hidden = false;
  });
}

export function init(ctx) {
  status = el("span", { id: "hours-status", class: "hours-status", role: "status", hidden: true });
  ctx.addTopbarItem(status);
  ctx.addMessageAction({
    name: "automatic",
    sig: (m) => String(Boolean(m.automatic)),
    build: (m) => (m.automatic ? el("span", { class: "origin automatic-reply", title: "Sent by the inbox outside business hours" }, "Automatic reply") : null),
  });
  ctx.addSettingsSection({ id: "business-hours", title: "Business hours", render: settingsSection });
  ctx
    .api("/me")
    .then((me) => {
      amAdmin = !me.agent || me.agent.role === "admin";
    })
    .catch(console.warn);
  refreshStatus();
  setInterval(refreshStatus, REFRESH_MS);
}
