/**
 * The "online now" list of the room. Rebuilt whole on each change: it is short, and the
 * client hands us the full list with every presence event, so there is no diff to get wrong.
 */
export class OnlineList {
  constructor(
    private readonly list: HTMLUListElement,
    private readonly count: HTMLElement,
    private readonly me: string,
  ) {}

  show(nicks: readonly string[]): void {
    const sorted = [...new Set(nicks)].sort((a, b) => a.localeCompare(b));
    const items = sorted.map((nick) => {
      const li = document.createElement("li");
      li.textContent = nick;
      if (nick === this.me) {
        li.className = "me";
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = " (you)";
        li.append(you);
      }
      return li;
    });
    this.list.replaceChildren(...items);
    this.count.textContent = String(sorted.length);
  }
}
