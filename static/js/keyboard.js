import { cancelReply } from "./composer.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { closeThreadView } from "./thread.js";

// --- keyboard -------------------------------------------------------------------------------

export function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function onKey(event) {
  if (event.key === "/" && !typing(event.target)) {
    event.preventDefault();
    $("search").focus();
    return;
  }
  if (event.key === "Escape") {
    if ($("template-dialog").open) return;
    if (state.replyTo) cancelReply();
    else if (document.body.classList.contains("thread-open")) closeThreadView();
    return;
  }
  const list = $("conversation-list");
  if ((event.key === "ArrowDown" || event.key === "ArrowUp") && list.contains(event.target)) {
    event.preventDefault();
    const items = Array.from(list.querySelectorAll("button.conv"));
    const index = items.indexOf(event.target);
    const next = items[Math.max(0, Math.min(items.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)))];
    if (next) next.focus();
  }
}

export function init() {
  document.addEventListener("keydown", onKey);
}
