export interface SidebarRoom {
  name: string;
  unread: number;
  /** Messages of ours still waiting to be sent in this room. */
  unsent: number;
  /**
   * Not joined (left, or from before a reload of another session), but messages of ours wait
   * for it: listed so they stay visible; opening the room joins it and sends them.
   */
  held: boolean;
  /** The server lets us read this room but not write in it. */
  readOnly: boolean;
}

export interface RoomSidebarElements {
  list: HTMLUListElement;
  form: HTMLFormElement;
  input: HTMLInputElement;
  note: HTMLElement;
}

export interface RoomSidebarActions {
  switchTo: (room: string) => void;
  leave: (room: string) => void;
  /** Drop the messages waiting for a room we are not in. */
  discardHeld: (room: string) => void;
  /** Join a new room; returns a sentence when the name cannot be used. */
  join: (room: string) => string | null;
}

/**
 * The list of my rooms: switch with a click (no leave, no rejoin), leave with the × beside
 * each, join another with the small form under it. Rebuilt whole on each change (the list is
 * short); keyboard focus stays on the room it was on.
 */
export class RoomSidebar {
  constructor(
    private readonly el: RoomSidebarElements,
    private readonly actions: RoomSidebarActions,
  ) {
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const problem = actions.join(el.input.value);
      el.note.textContent = problem ?? "";
      el.input.setAttribute("aria-invalid", String(problem !== null));
      if (problem === null) el.input.value = "";
      else el.input.focus();
    });
  }

  render(rooms: readonly SidebarRoom[], current: string | null): void {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.focusKey : undefined;
    const items = rooms.map((room) => {
      const li = document.createElement("li");
      li.dataset.room = room.name;
      if (room.held) li.className = "held";
      const link = document.createElement("button");
      link.type = "button";
      link.className = "room-link";
      link.dataset.focusKey = `switch:${room.name}`;
      if (room.name === current) link.setAttribute("aria-current", "true");
      const name = document.createElement("span");
      name.className = "room-name";
      name.textContent = `# ${room.name}`;
      link.append(name);
      if (room.readOnly) {
        const mark = document.createElement("span");
        mark.className = "read-only";
        mark.textContent = "read-only";
        mark.title = "You can read this room but not write in it";
        link.append(mark);
      }
      if (room.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = String(room.unread);
        badge.setAttribute("aria-label", `${room.unread} unread`);
        link.append(badge);
      }
      if (room.unsent > 0) {
        const waiting = document.createElement("span");
        waiting.className = "unsent";
        const words = `${room.unsent} waiting to be sent${room.held ? ": open the room to send" : ""}`;
        waiting.textContent = room.held ? `${room.unsent} unsent` : "⏳";
        waiting.title = words;
        waiting.setAttribute("aria-label", words);
        link.append(waiting);
      }
      link.addEventListener("click", () => this.actions.switchTo(room.name));
      const leave = document.createElement("button");
      leave.type = "button";
      leave.className = "room-leave";
      leave.dataset.focusKey = `leave:${room.name}`;
      leave.textContent = "×";
      const what = room.held ? `Discard the unsent messages for ${room.name}` : `Leave ${room.name}`;
      leave.title = what;
      leave.setAttribute("aria-label", what);
      leave.addEventListener("click", () => (room.held ? this.actions.discardHeld(room.name) : this.actions.leave(room.name)));
      li.append(link, leave);
      return li;
    });
    this.el.list.replaceChildren(...items);
    if (focused !== undefined) {
      const again = this.el.list.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`);
      again?.focus();
    }
  }
}
