

// The page's shared state: one object every module reads and changes.

export const myId = Number(document.querySelector('meta[name="agent-id"]')?.content);

export const state = {
  filter: "open", // the tab: open (every conversation not closed), unread, mine, unassigned, closed
  q: "",
  conversations: [],
  counts: {},
  currentId: null,
  current: null,
  messages: [],
  older: [],
  moreOlder: false,
  agents: new Map(),
  templates: null,
  replyTo: null,
  lastEventId: null,
  source: null,
  drafts: new Map(), // conversation id -> the reply being typed there
  sending: new Set(), // conversation ids with a send on its way
  nodes: new Map(), // "m:<id>", "day:<date>", "older" -> its node in the thread, kept across refreshes
  pinned: true, // the agent is at the newest message: keep it in view
  unseen: 0, // messages that arrived while the agent was scrolled up
  offline: false,
  newChat: null, // the number a contact card's "Open chat" is starting a conversation with (template dialog)
  newChatInput: false, // "New conversation": the template dialog asks for the number (#template-to)
  members: [], // the open group conversation's participants (GET /participants)
  extra: new Map(), // thread source name -> the items it loaded for the open thread (hooks.js)
  bubbleSizes: null, // a ResizeObserver: any bubble growing while pinned keeps the bottom in view
};
