import { api } from "./api.js";
import { hideSendError, showSendError } from "./composer.js";
import { $ } from "./dom.js";
import { displayName } from "./format.js";
import { refreshList } from "./list.js";
import { myId, state } from "./state.js";
import { renderHead } from "./thread.js";

// --- conversation actions -------------------------------------------------------------------

export async function act(path, body) {
  hideSendError();
  try {
    const answer = await api(path, { method: "POST", json: { conversation_id: state.currentId, ...body } });
    if (answer.conversation) {
      state.current = answer.conversation;
      renderHead();
    }
  } catch (error) {
    showSendError(error.message);
  }
  refreshList();
}

export function init() {
  $("assign").addEventListener("change", () => {
    const value = $("assign").value;
    if (value === "") act("/unassign", {});
    else act("/assign-agent", { agent_id: Number(value) });
  });
  $("take").addEventListener("click", () => act("/assign-agent", { agent_id: myId }));
  $("close-conv").addEventListener("click", () => act("/close", {}));
  $("reopen-conv").addEventListener("click", () => act("/reopen", {}));
  $("block-conv").addEventListener("click", () => {
    const name = state.current ? displayName(state.current) : "this customer";
    if (window.confirm(`Block ${name} on WhatsApp? They will not be able to message you, and you cannot message them.`)) act("/block", {});
  });
  $("unblock-conv").addEventListener("click", () => act("/unblock", {}));
}
