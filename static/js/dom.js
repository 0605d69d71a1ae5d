

export const $ = (id) => document.getElementById(id);

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// Runs `task` now, or once more after the running one when asked again meanwhile.
export function coalesced(task) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } catch (error) {
      console.warn(error);
    } finally {
      running = false;
      if (again) {
        again = false;
        run();
      }
    }
  };
  return run;
}

// Text with the search snippet's **bold** markers as <mark>, everything else as text.
export function highlighted(text) {
  return String(text).split("**").map((part, i) => (i % 2 ? el("mark", {}, part) : part));
}

export function idempotencyKey() {
  return window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
}

// --- keyed lists: keep the nodes whose data did not change ----------------------------------------

// The node for `key` from `cache` (a Map key -> node) while its signature `sig` is unchanged, else a
// new one from build() (recorded in the cache). Drop the keys no longer shown with forgetOthers().
export function keyedNode(cache, key, sig, build) {
  const old = cache.get(key);
  if (old && old._sig === sig) return old;
  const node = build();
  node._sig = sig;
  cache.set(key, node);
  return node;
}

export function forgetOthers(cache, nodes) {
  const shown = new Set(nodes);
  for (const [key, node] of cache) if (!shown.has(node)) cache.delete(key);
}

// Make parent's element children exactly `nodes`, in order: the ones gone are removed, the longest run
// already in order stays where it is, and only the others are moved (moveBefore where the browser has
// it, so a moved node keeps its focus, hover and transitions) or inserted. No node is recreated.
export function placeChildren(parent, nodes) {
  const keep = new Set(nodes);
  for (const child of Array.from(parent.children)) if (!keep.has(child)) child.remove();
  const position = new Map(Array.from(parent.children, (child, i) => [child, i]));
  const stay = inOrder(nodes.map((node) => (position.has(node) ? position.get(node) : -1)));
  let next = null;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (node.parentNode !== parent) parent.insertBefore(node, next);
    else if (!stay.has(i) && node.nextElementSibling !== next) {
      if (typeof parent.moveBefore === "function") parent.moveBefore(node, next);
      else parent.insertBefore(node, next);
    }
    next = node;
  }
}

// Indexes of a longest increasing run of `places` (-1: not placed yet, never part of it).
function inOrder(places) {
  const tails = []; // tails[k]: index in places of the smallest last element of a run of length k + 1
  const before = new Array(places.length).fill(-1);
  places.forEach((p, i) => {
    if (p < 0) return;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (places[tails[mid]] < p) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) before[i] = tails[lo - 1];
    tails[lo] = i;
  });
  const run = new Set();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = before[i]) run.add(i);
  return run;
}
