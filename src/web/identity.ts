/**
 * Who this tab is, as the client library wants it: clientId scopes message ids and belongs to
 * one tab (sessionStorage survives a reload of that tab, so a message queued before the reload
 * keeps its id and is not stored twice). Who the *user* is, the server decides: the client
 * library keeps its resume token in localStorage, shared by the browser's tabs.
 */
const CLIENT_ID = "pulse.clientId";
const LAST_NICK = "pulse.nick";
const LAST_ROOM = "pulse.room";

/** crypto.randomUUID exists only in secure contexts; getRandomValues also works on plain http. */
function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function stored(storage: Storage, key: string): string {
  let value = storage.getItem(key);
  if (value === null) {
    value = randomId();
    storage.setItem(key, value);
  }
  return value;
}

export interface Identity {
  clientId: string;
}

export function loadIdentity(): Identity {
  return { clientId: stored(sessionStorage, CLIENT_ID) };
}

export interface LastChoice {
  nick: string;
  room: string;
}

export function loadLastChoice(): LastChoice {
  return { nick: localStorage.getItem(LAST_NICK) ?? "", room: localStorage.getItem(LAST_ROOM) ?? "lobby" };
}

export function saveLastChoice(choice: LastChoice): void {
  localStorage.setItem(LAST_NICK, choice.nick);
  localStorage.setItem(LAST_ROOM, choice.room);
}
