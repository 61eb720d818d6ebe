/**
 * Look up an element the page's HTML must contain. A missing one is a build mistake, so fail
 * loudly at startup instead of with a null dereference later.
 */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`index.html lacks #${id} (${type.name})`);
  return el;
}
