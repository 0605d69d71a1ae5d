// The agent API: fetch with the session cookie and the CSRF token, errors as exceptions, and the
// server going away (the offline banner) and coming back.
import { $ } from "./dom.js";
import { state } from "./state.js";

export const API = "/api/whatsapp";
export const PAGE = 100;
export const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

export async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (init.method !== "GET") init.headers["X-CSRF-Token"] = csrf;
  Object.assign(init.headers, options.headers || {});
  if (options.json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  } else if (options.form) {
    init.body = options.form;
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (_) {
    throw unreachable();
  }
  const json = (response.headers.get("Content-Type") || "").includes("application/json");
  if (!json && [502, 503, 504].includes(response.status)) throw unreachable(); // a proxy with no service behind it
  reachable();
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("You have been signed out");
  }
  if (!response.ok || (body && body.success === false)) {
    const error = new Error((body && body.error) || `The server answered ${response.status}`);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

// --- the server going away and coming back ------------------------------------------------
// api.js knows nothing of the rest of the page: the inbox says what to do through connection.

export const UNREACHABLE = "Can't reach the inbox server.";
export const NOT_SENT = "Not sent: can't reach the inbox server. Your message is kept here; send it again once the server is back.";
let probeTimer = null;
let probeDelay = 2000;

// The page's reactions: offline() when the server stops answering, back() when it answers again.
export const connection = { offline: () => {}, back: () => {} };

export function unreachable() {
  const error = new Error(UNREACHABLE);
  error.offline = true;
  if (!state.offline) {
    state.offline = true;
    const banner = $("offline");
    if (banner) banner.hidden = false;
    connection.offline();
  }
  if (probeTimer === null) probeTimer = setTimeout(probe, probeDelay);
  return error;
}

// Every few seconds while the server is unreachable: ask it who we are; reachable() does the rest.
async function probe() {
  probeTimer = null;
  try {
    await api("/me");
    probeDelay = 2000;
  } catch (error) {
    if (error.offline) probeDelay = Math.min(probeDelay * 2, 15000);
  }
}

function reachable() {
  if (!state.offline) return;
  state.offline = false;
  probeDelay = 2000;
  clearTimeout(probeTimer);
  probeTimer = null;
  const banner = $("offline");
  if (banner) banner.hidden = true;
  connection.back();
}
