import { API, api } from "./api.js";
import { $, el } from "./dom.js";
import { longTime } from "./format.js";
import { state } from "./state.js";
import { openChat } from "./templates.js";
import { failureText, renderMessages } from "./thread.js";

export const MEDIA_NAMES = { image: "Image", sticker: "Sticker", video: "Video", audio: "Audio", document: "Document" };

// A download that failed: say so, and offer the retry (inbound only: Meta holds the file).
export function mediaFailed(m) {
  const what = MEDIA_NAMES[m.type] || "Media";
  const box = el("div", { class: "media-failed" }, el("span", { class: "media-missing" }, `${what} not available`));
  if (m.direction === "inbound" && m.media && m.media.id) {
    const note = el("span", { class: "media-note", role: "status" });
    const button = el("button", { type: "button", class: "retry", "aria-label": `Retry downloading the ${what.toLowerCase()}` }, "Retry");
    button.addEventListener("click", () => retryMedia(m.id, button, note));
    box.append(button, note);
  }
  return box;
}

export async function retryMedia(id, button, note) {
  button.disabled = true;
  button.textContent = "Retrying…";
  note.textContent = "";
  try {
    const answer = await api(`/media/${id}/retry`, { method: "POST" });
    const index = state.messages.findIndex((m) => m.id === id);
    const li = state.nodes.get(`m:${id}`);
    if (li) delete li._parts.content; // rebuilt even if the data is unchanged (the file was missing)
    if (index >= 0 && answer.message) {
      state.messages[index] = { ...state.messages[index], media: answer.message.media, media_state: answer.message.media_state };
      renderMessages(false);
    }
  } catch (error) {
    button.disabled = false;
    button.textContent = "Retry";
    note.textContent = error.offline ? "The inbox server is unreachable." : "Still not available from WhatsApp.";
  }
}

export function mediaUnavailable(node, m) {
  const box = $("messages");
  const pinned = state.pinned;
  node.replaceWith(mediaFailed(m));
  if (pinned) box.scrollTop = box.scrollHeight;
}

// --- rich content: m.content, the message's structure by type (docs/dashboard.md) ------------
// A customer's content is hostile: every value reaches the page as text through el(), and only
// http(s) addresses (and the geo/map links built here from numbers) become links.

export const given = (value) => value !== null && value !== undefined && value !== "";

// The address as a link target when it is http(s), else null (javascript:, data:, junk...).
export function safeHref(url) {
  if (typeof url !== "string" || !url.trim()) return null;
  try {
    const parsed = new URL(url.trim());
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

export function linkOrText(url, label, cls) {
  const href = safeHref(url);
  const text = given(label) ? String(label) : String(url);
  return href
    ? el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", class: cls }, text)
    : el("span", { class: cls }, text);
}

export function scalar(value) {
  if (!given(value)) return "—";
  if (value === true) return "Yes";
  if (value === false) return "No";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function money(amount, currency) {
  if (!given(amount)) return "—";
  const n = Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  if (!currency) return String(n);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: String(currency) }).format(n);
  } catch (_) {
    return `${n} ${currency}`; // not an ISO 4217 code
  }
}

// A flow's answers as [label, value] rows: nested keys flattened "a.b", lists of plain values
// joined, lists of objects numbered from 1 ("guests.1.name").
export function flatten(value, prefix, out = []) {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) out.push([prefix || "value", value.length ? value.map(scalar).join(", ") : "—"]);
    else value.forEach((v, i) => flatten(v, prefix ? `${prefix}.${i + 1}` : String(i + 1), out));
  } else if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length && prefix) out.push([prefix, "—"]);
    for (const [key, inner] of entries) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.push([prefix || "value", scalar(value)]);
  }
  return out;
}

export function rawToggle(raw) {
  const summary = el("summary", {}, "Show raw JSON");
  return el(
    "details",
    { class: "raw", ontoggle: (event) => { summary.textContent = event.target.open ? "Hide raw JSON" : "Show raw JSON"; } },
    summary,
    el("pre", {}, JSON.stringify(raw === undefined ? null : raw, null, 2)),
  );
}

export const contentOf = (m) => (m.content && typeof m.content === "object" ? m.content : null);

export function productOf(m) {
  const p = contentOf(m) && contentOf(m).product;
  return p && typeof p === "object" && (given(p.product_retailer_id) || given(p.catalog_id)) ? p : null;
}

export function referralOf(m) {
  const c = contentOf(m);
  const r = c ? c.referral : m.referral; // before `content`, the API passed Meta's referral as it came
  return r && typeof r === "object" ? r : null;
}

// A product inquiry: the customer wrote from a product of the catalog.
export function inquiry(product) {
  if (!product) return null;
  return el(
    "p",
    { class: "inquiry" },
    "🛍 Asked about ",
    el("strong", { class: "product-id" }, given(product.product_retailer_id) ? String(product.product_retailer_id) : "a product"),
    given(product.catalog_id) ? ` (catalog ${product.catalog_id})` : null,
  );
}

// A click-to-WhatsApp ad the customer came from.
export function referralCard(r) {
  if (!r) return null;
  const source = given(r.source_url)
    ? linkOrText(r.source_url, safeHref(r.source_url) ? `Open the ${r.source_type || "ad"}` : r.source_url, "referral-source")
    : null;
  return el(
    "div",
    { class: "referral", role: "group", "aria-label": "From ad" },
    el("span", { class: "referral-label" }, "From ad"),
    given(r.headline) ? el("strong", { class: "referral-headline" }, String(r.headline)) : null,
    given(r.body) ? el("span", { class: "referral-body" }, String(r.body)) : null,
    source,
  );
}

// Lines that are not a bubble: a decision or a change the customer made, shown centred.
export function systemLine(m) {
  const c = contentOf(m);
  if (m.type === "system" || m.type === "request_welcome") return true;
  return Boolean(c && m.type === "interactive" && c.kind === "call_permission_reply");
}

export function callPermissionText(c) {
  const automatic = c.response_source === "automatic" ? " (automatically)" : "";
  if (c.response === "accept") {
    if (c.is_permanent) return `Customer accepted calls (permanently)${automatic}`;
    if (c.expiration_timestamp) return `Customer accepted calls until ${longTime(c.expiration_timestamp) || c.expiration_timestamp}${automatic}`;
    return `Customer accepted calls${automatic}`;
  }
  if (c.response === "reject") return `Customer declined calls${automatic}`;
  return `Customer answered the call request: ${scalar(c.response)}`;
}

export function locationBlock(m, c) {
  const source = c && given(c.latitude) ? c : m.location;
  const lat = source ? Number(source.latitude) : NaN;
  const lon = source ? Number(source.longitude) : NaN;
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    return el("span", { class: "location" }, "📍 ", m.text || "Location");
  }
  const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
  const name = given(source.name) ? String(source.name) : null;
  const address = given(source.address) ? String(source.address) : null;
  return el(
    "div",
    { class: "location-card" },
    el(
      "a",
      { href, target: "_blank", rel: "noopener noreferrer", class: "location" },
      "📍 ",
      name || address || `${lat}, ${lon}`,
      name && address ? el("span", { class: "address" }, address) : null,
      el("span", { class: "coords" }, `${lat}, ${lon}`),
      el("span", { class: "map-hint" }, " (map)"),
    ),
    el("a", { href: `geo:${lat},${lon}`, class: "geo-link" }, "Open in a maps app"),
    given(source.url) ? linkOrText(source.url, null, "location-url") : null,
  );
}

export function contactCard(card) {
  const name = card.name && typeof card.name === "object" ? card.name : {};
  const full = name.formatted_name ||
    [name.prefix, name.first_name, name.middle_name, name.last_name, name.suffix].filter(given).join(" ") || "Contact";
  const org = card.org && typeof card.org === "object" ? [card.org.company, card.org.department, card.org.title].filter(given).join(" · ") : "";
  const row = (cls, label, value, extra) =>
    el("li", { class: cls }, el("span", { class: "field-label" }, label), " ", el("span", { class: "field-value" }, value), extra || null);
  const fields = [];
  for (const p of card.phones || []) {
    const number = p.phone || (p.wa_id ? "+" + p.wa_id : "");
    const chat = p.wa_id
      ? el("button", {
        type: "button",
        class: "open-chat",
        "aria-label": `Open chat with ${number}`,
        onclick: () => openChat(p.wa_id).catch(console.warn),
      }, "Open chat")
      : null;
    fields.push(row("phone", p.type ? `📞 ${p.type}` : "📞", String(number), chat));
  }
  for (const e of card.emails || []) fields.push(row("email", e.type ? `✉ ${e.type}` : "✉", String(e.email || "")));
  for (const a of card.addresses || []) {
    const line = [a.street, a.city, a.state, a.zip, a.country || a.country_code].filter(given).join(", ");
    if (line) fields.push(row("address", a.type ? `🏠 ${a.type}` : "🏠", line));
  }
  for (const u of card.urls || []) {
    if (given(u.url)) fields.push(el("li", { class: "url" }, el("span", { class: "field-label" }, u.type ? `🔗 ${u.type}` : "🔗"), " ", linkOrText(u.url, null, "field-value")));
  }
  if (given(card.birthday)) fields.push(row("birthday", "🎂", String(card.birthday)));
  return el(
    "div",
    { class: "contact-card", role: "group", "aria-label": `Contact card: ${full}` },
    el("p", { class: "contact-name" }, "👤 ", el("span", {}, String(full))),
    org ? el("p", { class: "contact-org" }, org) : null,
    fields.length ? el("ul", { class: "contact-fields" }, fields) : null,
  );
}

export function orderBlock(c) {
  const items = Array.isArray(c.items) ? c.items : [];
  const total = c.total && typeof c.total === "object" ? money(c.total.amount, c.total.currency) : "—";
  return [
    el(
      "table",
      { class: "order" },
      el("caption", {}, `🛒 Order · ${items.length} ${items.length === 1 ? "item" : "items"}`),
      el("thead", {}, el("tr", {}, ["Product", "Qty", "Unit price", "Line total"].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        items.map((i) =>
          el(
            "tr",
            {},
            el("td", { class: "product" }, given(i.product_retailer_id) ? String(i.product_retailer_id) : "—"),
            el("td", { class: "num" }, scalar(i.quantity)),
            el("td", { class: "num" }, money(i.item_price, i.currency)),
            el("td", { class: "num" }, money(i.line_total, i.currency)),
          )),
      ),
      el(
        "tfoot",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "row", colspan: "3" }, "Total"),
          el("td", { class: "num", title: c.total ? null : "Not computed: the items mix currencies or a price is missing" }, total),
        ),
      ),
    ),
    given(c.note) ? el("p", { class: "text order-note" }, String(c.note)) : null,
    given(c.catalog_id) ? el("p", { class: "catalog" }, `Catalog ${c.catalog_id}`) : null,
  ];
}

export function flowBlock(c) {
  const title = c.flow_name && c.flow_name !== "flow" ? `Form reply · ${c.flow_name}` : "Form reply";
  const parts = [el("p", { class: "flow-title", title: c.flow_token ? `flow_token ${c.flow_token}` : null }, "📝 ", title)];
  if (c.response && typeof c.response === "object") {
    // The flow_token is Meta's routing data, not an answer (it is in the title above).
    const answers = Array.isArray(c.response) ? c.response : Object.fromEntries(Object.entries(c.response).filter(([k]) => k !== "flow_token"));
    const rows = flatten(answers, "");
    parts.push(
      rows.length
        ? el("dl", { class: "flow-fields" }, rows.map(([label, value]) => el("div", { class: "flow-field" }, el("dt", {}, label), el("dd", {}, value))))
        : el("p", { class: "muted" }, "No answers."),
    );
  } else if (given(c.response_error) || given(c.response_raw)) {
    parts.push(el("p", { class: "placeholder" }, "The answers could not be read."), rawToggle(c.response_raw));
  }
  if (given(c.body) && c.body !== "Sent") parts.push(el("p", { class: "text" }, String(c.body)));
  return parts;
}

export function choiceBlock(label, title, description) {
  return el(
    "div",
    { class: "choice" },
    el("span", { class: "choice-kind" }, label),
    el("span", { class: "choice-title" }, given(title) ? String(title) : "—"),
    given(description) ? el("span", { class: "choice-desc" }, String(description)) : null,
  );
}

// The nodes for m.content, or null to fall back to the text; fills `box`.
export function richContent(m, c, box) {
  if (c && given(c.placeholder)) {
    box.append(el("p", { class: "placeholder" }, String(c.placeholder)), rawToggle(c.raw));
    return true;
  }
  switch (m.type) {
    case "location":
      box.append(locationBlock(m, c));
      return true;
    case "contacts":
      if (!c || !Array.isArray(c.cards) || !c.cards.length) return false;
      box.append(...c.cards.map(contactCard));
      return true;
    case "order":
      if (!c) return false;
      box.append(...orderBlock(c).filter(Boolean));
      return true;
    case "button":
      if (!c) return false;
      box.append(choiceBlock("Tapped a button", c.text || c.payload || m.text, null));
      return true;
    case "system":
      box.append(el("p", { class: "system-text" }, (c && c.body) || m.text || "The customer's account changed"));
      return true;
    case "request_welcome":
      box.append(el("p", { class: "system-text" }, "The customer opened the chat"));
      return true;
    case "interactive":
      if (!c) return false;
      if (c.kind === "call_permission_reply") box.append(el("p", { class: "system-text" }, callPermissionText(c)));
      else if (c.kind === "nfm_reply") box.append(...flowBlock(c));
      else if (c.kind === "button_reply") box.append(choiceBlock("Tapped a button", c.title || m.text, c.description));
      else if (c.kind === "list_reply") box.append(choiceBlock("Chose from the list", c.title || m.text, c.description));
      else if ("raw" in c) box.append(el("p", { class: "placeholder" }, `An interactive reply this inbox does not show (${c.kind || "unknown"})`), rawToggle(c.raw));
      else return false;
      return true;
    default:
      return false;
  }
}

export function errorsNote(m, c) {
  const errors = c && Array.isArray(c.errors) ? c.errors : [];
  if (m.direction !== "inbound" || !errors.length) return null; // an outbound failure has its own line
  return el(
    "p",
    { class: "msg-errors" },
    "WhatsApp reported: ",
    errors.map((e) => failureText({ title: e.title, details: e.details || e.message, code: e.code })).join("; "),
  );
}

export function content(m) {
  const box = el("div", { class: "content" });
  const media = m.media || null;
  const url = media && (media.id || media.state) ? `${API}/media/${m.id}` : null;
  const failed = Boolean(url) && media.state === "failed";
  const c = contentOf(m);
  let caption = m.text;
  let placeholder = m.placeholder;
  switch (m.type) {
    case "image":
    case "sticker": {
      if (failed) {
        box.append(mediaFailed(m));
      } else if (url) {
        const img = el("img", { src: url, class: m.type, alt: m.type === "sticker" ? "Sticker" : m.text || "Image", loading: "lazy" });
        const link = el("a", { href: url, target: "_blank", rel: "noopener", class: "media-link" }, img);
        img.addEventListener("error", () => mediaUnavailable(link, m));
        box.append(link);
      } else {
        box.append(el("span", { class: "media-missing" }, `[${m.type}]`));
      }
      if (m.type === "sticker") caption = null;
      break;
    }
    case "video":
    case "audio": {
      if (failed) {
        box.append(mediaFailed(m));
      } else if (url) {
        const player = el(m.type, { src: url, controls: true, preload: "metadata", "aria-label": m.type === "video" ? "Video" : "Voice or audio message" });
        player.addEventListener("error", () => mediaUnavailable(player, m));
        box.append(player);
      } else {
        box.append(el("span", { class: "media-missing" }, `[${m.type}]`));
      }
      break;
    }
    case "document": {
      const name = (media && media.filename) || "Document";
      if (failed) {
        box.append(el("span", { class: "document" }, "📄 ", name), mediaFailed(m));
      } else {
        box.append(
          url
            ? el("a", { href: url, download: name, class: "document" }, el("span", { "aria-hidden": "true" }, "📄 "), name)
            : el("span", { class: "document" }, "📄 ", name),
        );
      }
      if (caption === name) caption = null;
      break;
    }
    default:
      if (richContent(m, c, box)) {
        caption = null;
        if (c && given(c.placeholder)) placeholder = null; // shown once, with its raw JSON
      }
      break;
  }
  if (placeholder) {
    box.append(el("p", { class: "placeholder" }, placeholder));
    caption = null;
  }
  if (media && media.state && media.state !== "ready" && media.state !== "failed" && m.direction === "inbound") {
    box.append(el("span", { class: "media-state" }, "Downloading…"));
  }
  if (caption) box.append(el("p", { class: "text" }, caption));
  const note = errorsNote(m, c);
  if (note) box.append(note);
  if (!box.childNodes.length) box.append(el("p", { class: "text muted" }, `[${m.type}]`));
  return box;
}

// "Open chat" on a contact card's number: its conversation when there is one; a number that has
