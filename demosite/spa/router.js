// A small pushState router: the URL is the state. `navigate(path)` pushes a history entry
// and re-renders without a page load; the back and forward buttons (popstate) re-render too.

import { createElement as h, useEffect, useState } from "react";

const listeners = new Set();
const notify = () => listeners.forEach((fn) => fn(location.pathname));

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({ path }, "", path);
  else history.pushState({ path }, "", path);
  notify();
  window.scrollTo(0, 0);
}

addEventListener("popstate", notify);

export function usePath() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    listeners.add(setPath);
    return () => listeners.delete(setPath);
  }, []);
  return path;
}

/** A link that routes in place for plain left clicks and is a normal link otherwise. */
export function Link({ to, children, ...rest }) {
  const onClick = (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(to);
  };
  return h("a", { href: to, onClick, ...rest }, children);
}
