import { api } from "./api.js";
import { $, debounce, el } from "./dom.js";

// --- the account's signals: the number's quality, limits, restrictions (GET /health) ----------

export async function refreshAccount() {
  let alerts = [];
  try {
    alerts = (await api("/health")).health.alerts || [];
  } catch (error) {
    console.warn(error);
    return;
  }
  $("account-alerts").replaceChildren(...alerts.map((line) => el("li", {}, line)));
  $("account-banner").hidden = alerts.length === 0;
}

export const refreshAccountSoon = debounce(() => refreshAccount(), 200);
