// The settings dialog: feature modules add sections with hooks.addSettingsSection({ id, title, render });
// the "Settings" button in the top bar shows once there is one, and the dialog renders them on each open.

import { $, el } from "./dom.js";
import { hooks } from "./hooks.js";

export function openSettings() {
  const body = $("settings-body");
  body.replaceChildren(
    ...hooks.settings.map((section) => {
      const box = el("div", { class: "settings-content" });
      try {
        section.render(box);
      } catch (error) {
        console.warn(`settings section ${section.id}`, error);
      }
      return el("section", { class: "settings-section", dataset: { section: section.id } }, el("h3", {}, section.title), box);
    }),
  );
  $("settings-dialog").showModal();
}

export function init() {
  $("settings-open").hidden = hooks.settings.length === 0;
  $("settings-open").addEventListener("click", openSettings);
  $("settings-close").addEventListener("click", () => $("settings-dialog").close());
}
