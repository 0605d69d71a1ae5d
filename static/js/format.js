import { myId, state } from "./state.js";

export function parseTime(text) {
  if (!text) return null;
  const date = new Date(text.replace(" ", "T") + "Z");
  return Number.isNaN(date.getTime()) ? null : date;
}

export function clock(text) {
  const date = parseTime(text);
  return date ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
}

export function shortTime(text) {
  const date = parseTime(text);
  if (!date) return "";
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return clock(text);
  return date.toLocaleDateString([], { day: "numeric", month: "short" });
}

export function longTime(text) {
  const date = parseTime(text);
  return date ? date.toLocaleString() : "";
}

export function displayName(c) {
  if (!c) return "";
  return (
    c.contact_name || c.contact_profile_name || (c.username ? "@" + c.username : null) ||
    c.phone_number || c.user_id || `Conversation ${c.id}`
  );
}

export function isGroup(c) {
  return Boolean(c) && c.kind === "group";
}

// Who wrote a group message: their profile name, else their number or BSUID.
export function senderName(sender) {
  return sender.name || sender.phone_number || sender.user_id || "A participant";
}

export function identityLine(c) {
  if (isGroup(c)) {
    const here = isGroup(state.current) && state.current.id === c.id ? state.members.filter((p) => p.state === "member") : [];
    if (!here.length) return "WhatsApp group";
    const names = here.map((p) => p.name || p.phone_number || p.user_id);
    return `WhatsApp group · ${here.length} ${here.length === 1 ? "participant" : "participants"}: ${names.join(", ")}`;
  }
  const parts = [];
  if (c.phone_number) parts.push(c.phone_number);
  if (c.username) parts.push("@" + c.username);
  if (!parts.length && c.user_id) parts.push(c.user_id);
  return parts.join(" · ");
}

export function initials(name) {
  const letters = Array.from(String(name).replace(/[^\p{L}\p{N} ]/gu, "").trim());
  const words = letters.join("").split(/\s+/).filter(Boolean);
  const text = words.length > 1 ? Array.from(words[0])[0] + Array.from(words[1])[0] : letters.slice(0, 2).join("");
  return (text || "#").toUpperCase();
}

export function agentName(id) {
  if (id === null || id === undefined) return null;
  if (id === myId) return "You";
  return state.agents.get(id) || `Agent #${id}`;
}
