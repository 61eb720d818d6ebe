import { ChatSession } from "./chat-session.js";
import { Composer } from "./composer.js";
import { byId } from "./dom.js";
import { loadIdentity, loadLastChoice, saveLastChoice } from "./identity.js";
import { describeConnection } from "./indicator.js";
import { IndicatorView } from "./indicator-view.js";

/** The room this tab is in, so a reload goes straight back (and flushes its outbox). */
const CURRENT = "pulse.current";

/** Same origin as the page: the server upgrades any path, and TLS follows the page's. */
const socketUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;

const joinSection = byId("join", HTMLElement);
const joinForm = byId("join-form", HTMLFormElement);
const nickInput = byId("nick", HTMLInputElement);
const roomInput = byId("room", HTMLInputElement);
const joinNote = byId("join-note", HTMLElement);
const chatSection = byId("chat", HTMLElement);
const roomTitle = byId("room-title", HTMLElement);
const meLabel = byId("me", HTMLElement);
const olderButton = byId("older", HTMLButtonElement);

const chatElements = {
  scroller: byId("scroller", HTMLElement),
  list: byId("messages", HTMLOListElement),
  olderButton,
  online: byId("online", HTMLUListElement),
  onlineCount: byId("online-count", HTMLElement),
  onlineBox: byId("online-box", HTMLElement),
  notice: byId("notice", HTMLElement),
};

let session: ChatSession | null = null;

const indicator = new IndicatorView(
  {
    root: byId("status", HTMLElement),
    icon: byId("status-icon", HTMLElement),
    text: byId("status-text", HTMLElement),
    detail: byId("status-detail", HTMLElement),
    retry: byId("status-retry", HTMLButtonElement),
    announcer: byId("status-announce", HTMLElement),
  },
  () => session?.client.reconnectNow(),
);

const composer = new Composer(
  { form: byId("composer", HTMLFormElement), input: byId("text", HTMLTextAreaElement), note: chatElements.notice },
  // send() returns null on success, so no `??` here: that would turn success into an error.
  (text) => (session === null ? "Not in a room." : session.send(text)),
);

olderButton.addEventListener("click", () => session?.loadOlder());

function showJoin(note: string): void {
  chatSection.hidden = true;
  joinSection.hidden = false;
  joinNote.textContent = note;
  nickInput.focus();
}

function enter(nick: string, room: string): void {
  session?.dispose();
  sessionStorage.setItem(CURRENT, JSON.stringify({ nick, room }));
  roomTitle.textContent = `# ${room}`;
  meLabel.textContent = nick;
  joinSection.hidden = true;
  chatSection.hidden = false;
  const current = new ChatSession({
    url: socketUrl,
    nick,
    room,
    identity: loadIdentity(),
    elements: chatElements,
    onState: (next) => {
      indicator.render();
      // A terminal close (nickname taken, not allowed, ...): the indicator keeps the sentence,
      // and the form comes back so the person can choose again.
      if (next.kind === "closed" && session === current) {
        sessionStorage.removeItem(CURRENT);
        showJoin(`${describeConnection(next, Date.now()).text}. Change the nickname or room and join again.`);
      }
    },
  });
  session = current;
  indicator.follow(current.indicatorSource);
  current.start();
  composer.focus();
}

function leave(): void {
  const ending = session;
  session = null;
  ending?.dispose();
  sessionStorage.removeItem(CURRENT);
  indicator.follow(null);
  showJoin("");
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = nickInput.value.trim();
  const room = roomInput.value.trim();
  if (nick === "" || room === "") return;
  saveLastChoice({ nick, room });
  enter(nick, room);
});
byId("leave", HTMLButtonElement).addEventListener("click", leave);

function restore(): { nick: string; room: string } | null {
  try {
    const value: unknown = JSON.parse(sessionStorage.getItem(CURRENT) ?? "null");
    if (typeof value === "object" && value !== null && "nick" in value && "room" in value) {
      const { nick, room } = value;
      if (typeof nick === "string" && typeof room === "string") return { nick, room };
    }
  } catch {
    // A damaged entry just means the join form is shown.
  }
  return null;
}

const last = loadLastChoice();
nickInput.value = last.nick;
roomInput.value = last.room;
indicator.follow(null);
const resumed = restore();
if (resumed !== null) enter(resumed.nick, resumed.room);
else showJoin("");
