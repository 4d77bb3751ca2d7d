// Persistence shared by the apps: a JSON list of {title, completed} under one localStorage key.
export function load(key) {
  try {
    const items = JSON.parse(localStorage.getItem(key) || "[]");
    return Array.isArray(items) ? items : [];
  } catch (_) {
    return [];
  }
}

export function save(key, items) {
  localStorage.setItem(key, JSON.stringify(items.map(({ title, completed }) => ({ title, completed: !!completed }))));
}

/** "#/active" -> "active"; anything else -> "all". */
export function routeFilter(hash) {
  const name = (hash || "").replace(/^#\/?/, "");
  return name === "active" || name === "completed" ? name : "all";
}

export const pluralize = (n) => (n === 1 ? "item" : "items");
