import { CloseCode } from "../protocol/close-codes.js";
import { ChatSession } from "./chat-session.js";
import { Composer } from "./composer.js";
import { byId } from "./dom.js";
import { loadIdentity, loadLastChoice, saveLastChoice } from "./identity.js";
import { describeConnection } from "./indicator.js";
import { IndicatorView } from "./indicator-view.js";
import { MAX_NICK_LENGTH, MAX_ROOM_LENGTH, nameProblem } from "./name-validation.js";
import { registerOfflineShell } from "./offline-shell.js";
import { RoomSidebar } from "./room-sidebar.js";
import { restoreTab, saveTab, forgetTab } from "./tab-state.js";

/** Same origin as the page: the server upgrades any path, and TLS follows the page's. */
const socketUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
const TITLE = "Pulse chat";

const joinSection = byId("join", HTMLElement);
const joinForm = byId("join-form", HTMLFormElement);
const nickInput = byId("nick", HTMLInputElement);
const roomInput = byId("room", HTMLInputElement);
const nickNote = byId("nick-note", HTMLElement);
const roomNote = byId("room-note", HTMLElement);
const joinNote = byId("join-note", HTMLElement);
const chatSection = byId("chat", HTMLElement);
const roomTitle = byId("room-title", HTMLElement);
const meLabel = byId("me", HTMLElement);
const olderButton = byId("older", HTMLButtonElement);
const jumpButton = byId("jump", HTMLButtonElement);
const queuedNote = byId("queued-note", HTMLElement);
const panelsToggle = byId("panels-toggle", HTMLButtonElement);
const scroller = byId("scroller", HTMLElement);

const chatElements = {
  scroller,
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
  {
    form: byId("composer", HTMLFormElement),
    input: byId("text", HTMLTextAreaElement),
    note: chatElements.notice,
    counter: byId("counter", HTMLElement),
  },
  // send() returns null on success, so no `??` here: that would turn success into an error.
  (text) => (session === null ? "Not in a room." : session.send(text)),
  (text) => {
    // Each room keeps its own draft.
    const current = session?.current;
    if (current) current.draft = text;
  },
);

const sidebar = new RoomSidebar(
  {
    list: byId("rooms", HTMLUListElement),
    form: byId("add-room", HTMLFormElement),
    input: byId("new-room", HTMLInputElement),
    note: byId("add-room-note", HTMLElement),
  },
  {
    switchTo: (room) => openRoom(room),
    leave: (room) => leaveRoom(room),
    discardHeld: (room) => session?.discardHeld(room),
    join: (value) => {
      const problem = nameProblem(value, "room name", MAX_ROOM_LENGTH);
      if (problem === null) openRoom(value.trim());
      return problem;
    },
  },
);

olderButton.addEventListener("click", () => session?.loadOlder());
jumpButton.addEventListener("click", () => {
  session?.current?.messages.scrollToBottom();
  session?.noteReading();
  redraw();
});
scroller.addEventListener("scroll", () => {
  session?.noteReading();
  jumpButton.hidden = !showJump();
});
document.addEventListener("visibilitychange", () => session?.noteReading());
panelsToggle.addEventListener("click", () => setPanelsOpen(document.body.dataset.panels !== "open"));
window.addEventListener("hashchange", () => {
  const room = roomFromHash();
  if (session !== null && room !== null && nameProblem(room, "room name", MAX_ROOM_LENGTH) === null) openRoom(room);
});

function setPanelsOpen(open: boolean): void {
  document.body.dataset.panels = open ? "open" : "closed";
  panelsToggle.setAttribute("aria-expanded", String(open));
}

function roomFromHash(): string | null {
  if (location.hash.length <= 1) return null;
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return null;
  }
}

function showJump(): boolean {
  const current = session?.current;
  return current !== undefined && current !== null && current.unread > 0 && !current.messages.atBottom;
}

/** Everything that depends on the rooms, the room on screen and the counts. */
function redraw(): void {
  const s = session;
  if (s === null) {
    document.title = TITLE;
    return;
  }
  const current = s.current;
  const outbox = s.outboxByRoom();
  // Rooms we left whose messages still wait are listed too, so those messages stay visible.
  const held = [...outbox.keys()].filter((name) => !s.isIn(name));
  sidebar.render(
    [
      ...s.roomNames().map((name) => ({ name, unread: s.room(name)?.unread ?? 0, unsent: outbox.get(name)?.unsent ?? 0, held: false, readOnly: s.room(name)?.readOnly ?? false })),
      ...held.map((name) => ({ name, unread: 0, unsent: outbox.get(name)?.unsent ?? 0, held: true, readOnly: false })),
    ],
    current?.room ?? null,
  );
  const total = s.totalUnread();
  document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE;
  roomTitle.textContent = current ? `# ${current.room}` : "";
  olderButton.hidden = !(current?.hasOlder ?? false);
  olderButton.disabled = current?.olderLoading ?? false;
  olderButton.textContent = current?.olderLoading ? "Loading older messages…" : "Load older messages";
  jumpButton.hidden = !showJump();
  composer.setReadOnly(current?.readOnly ?? false);
  // Near the composer: queued messages will go out later, not never.
  const waiting = current ? (outbox.get(current.room)?.waiting ?? 0) : 0;
  const connected = s.client.state.kind === "open";
  queuedNote.hidden = waiting === 0 || connected;
  queuedNote.textContent =
    waiting === 1 ? "1 message is waiting for the connection and will be sent when it is back." : `${waiting} messages are waiting for the connection and will be sent when it is back.`;
  saveTab({ nick: s.nick, rooms: s.roomNames(), current: current?.room ?? null });
}

function openRoom(room: string): void {
  if (session === null) return;
  const before = session.current;
  if (before) before.draft = byId("text", HTMLTextAreaElement).value;
  session.open(room);
  if (session.current !== before) composer.setText(session.current?.draft ?? "");
  history.replaceState(null, "", `#${encodeURIComponent(room)}`);
  setPanelsOpen(false);
  redraw();
  composer.focus();
}

function leaveRoom(room: string): void {
  if (session === null) return;
  session.leave(room);
  if (session.roomNames().length === 0) {
    endSession("");
    return;
  }
  const current = session.current;
  composer.setText(current?.draft ?? "");
  if (current) history.replaceState(null, "", `#${encodeURIComponent(current.room)}`);
  redraw();
}

function showJoin(note: string): void {
  chatSection.hidden = true;
  joinSection.hidden = false;
  document.body.dataset.view = "join";
  joinNote.textContent = note;
  nickInput.focus();
}

function endSession(note: string): void {
  const ending = session;
  session = null;
  ending?.dispose();
  forgetTab();
  indicator.follow(null);
  redraw();
  showJoin(note);
}

function start(nick: string, rooms: readonly string[], current: string | null): void {
  session?.dispose();
  meLabel.textContent = nick;
  joinSection.hidden = true;
  chatSection.hidden = false;
  document.body.dataset.view = "chat";
  const started = new ChatSession({
    url: socketUrl,
    nick,
    identity: loadIdentity(),
    elements: chatElements,
    onState: (next) => {
      indicator.render();
      // A terminal close (nickname taken, not allowed, ...): the indicator keeps the sentence,
      // and the form comes back so the person can choose again.
      if (next.kind === "closed" && session === started) {
        session = null;
        started.dispose();
        forgetTab();
        redraw();
        showJoin(`${describeConnection(next, Date.now()).text}.`);
        if (next.code === CloseCode.NicknameTaken || next.code === CloseCode.InvalidNickname) {
          nickInput.setAttribute("aria-invalid", "true");
        }
      }
    },
    onChange: () => {
      if (session === started) redraw();
    },
  });
  session = started;
  indicator.follow(started.indicatorSource);
  for (const room of rooms) started.open(room);
  started.start();
  openRoom(current ?? rooms[rooms.length - 1]!);
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nickProblem = nameProblem(nickInput.value, "nickname", MAX_NICK_LENGTH);
  const roomProblem = nameProblem(roomInput.value, "room name", MAX_ROOM_LENGTH);
  nickNote.textContent = nickProblem ?? "";
  roomNote.textContent = roomProblem ?? "";
  nickInput.setAttribute("aria-invalid", String(nickProblem !== null));
  roomInput.setAttribute("aria-invalid", String(roomProblem !== null));
  joinNote.textContent = "";
  if (nickProblem !== null) return nickInput.focus();
  if (roomProblem !== null) return roomInput.focus();
  const nick = nickInput.value.trim();
  const room = roomInput.value.trim();
  saveLastChoice({ nick, room });
  start(nick, [room], room);
});
byId("leave", HTMLButtonElement).addEventListener("click", () => {
  const current = session?.current;
  if (current) leaveRoom(current.room);
});

registerOfflineShell();
const last = loadLastChoice();
nickInput.value = last.nick;
roomInput.value = roomFromHash() ?? last.room;
indicator.follow(null);
setPanelsOpen(false);
const resumed = restoreTab();
if (resumed !== null) {
  const linked = roomFromHash();
  const rooms = linked !== null && !resumed.rooms.includes(linked) ? [...resumed.rooms, linked] : resumed.rooms;
  start(resumed.nick, rooms, linked ?? resumed.current);
} else showJoin("");
