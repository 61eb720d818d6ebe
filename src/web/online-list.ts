/**
 * The "online now" list of the room. Rebuilt whole on each change: it is at most a page long
 * (the server lists names only up to its onlineListMax), and the client hands us the names it
 * knows with every change, so there is no diff to get wrong. In a larger room the count is the
 * truth and the names are a sample: "and N more" says so.
 */
export class OnlineList {
  constructor(
    private readonly list: HTMLUListElement,
    private readonly count: HTMLElement,
    private readonly me: string,
  ) {}

  show(nicks: readonly string[], onlineCount = nicks.length): void {
    // The reader first, then the others by name: a name that ends in "(you)" (names may) sorts
    // among the others, never beside the reader's own row, whose "you" is a badge no name can draw.
    const sorted = [...new Set(nicks)].sort((a, b) => (a === this.me ? -1 : b === this.me ? 1 : a.localeCompare(b)));
    const items = sorted.map((nick) => {
      const li = document.createElement("li");
      li.textContent = nick;
      if (nick === this.me) {
        li.className = "me";
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = "you";
        li.append(you);
      }
      return li;
    });
    const total = Math.max(onlineCount, sorted.length);
    if (total > sorted.length) {
      const more = document.createElement("li");
      more.className = "more";
      more.textContent = `and ${total - sorted.length} more`;
      items.push(more);
    }
    this.list.replaceChildren(...items);
    this.count.textContent = String(total);
  }
}
