import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";

/** One row of the message list as a person sees it. */
export interface SeenMessage {
  from: string;
  text: string;
  /** "pending" | "sent" | "failed" for our own messages, "" for others'. */
  status: string;
  /** Has a time of day (shown, or only on hover for a continued message). */
  timed: boolean;
  /** Continues the previous message's group (same author, minutes apart): no repeated header. */
  grouped: boolean;
}

/** A change of the indicator's state, as recorded inside the page. */
export interface IndicatorChange {
  state: string;
  text: string;
}

/**
 * Records every change of the indicator's data-state inside the page, so a test can see
 * short-lived states (a brief "suspect") that polling from outside would miss.
 */
const RECORD_INDICATOR = `
  window.__indicatorLog = [];
  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("status");
    const text = document.getElementById("status-text");
    if (!root || !text) return;
    const record = () => {
      const log = window.__indicatorLog;
      const last = log[log.length - 1];
      if (!last || last.state !== root.dataset.state) log.push({ state: root.dataset.state, text: text.textContent });
    };
    new MutationObserver(record).observe(root, { attributes: true, attributeFilter: ["data-state"] });
    record();
    // What a screen reader hears: every change of the live region's text.
    window.__announcements = [];
    const live = document.getElementById("status-announce");
    if (live) {
      new MutationObserver(() => window.__announcements.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
    }
    // Every colour the indicator box took, in order.
    window.__tones = [root.dataset.tone];
    new MutationObserver(() => {
      const tones = window.__tones;
      if (tones[tones.length - 1] !== root.dataset.tone) tones.push(root.dataset.tone);
    }).observe(root, { attributes: true, attributeFilter: ["data-tone"] });
  });
`;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Poll from Node rather than inside the page: page-side polling uses the page's timers,
 * which some tests deliberately freeze or fake.
 */
export async function waitUntil<T>(
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    last = await probe();
    if (last !== null && last !== undefined && last !== false) return last as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A person's tab with the chat page: its own browser context, so its own storage and user key. */
export class ChatPage {
  readonly dialogs: string[] = [];
  /** The page's own DevTools session, made at the first setOffline. */
  private cdp: Promise<CDPSession> | null = null;

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    page.on("dialog", (dialog) => {
      this.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  }

  /** Open the page; `beforeLoad` runs before navigation (e.g. to install a fake clock). */
  static async open(
    browser: Browser,
    url: string,
    beforeLoad?: (page: Page) => Promise<unknown>,
  ): Promise<ChatPage> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const chat = new ChatPage(context, page);
    await page.addInitScript(RECORD_INDICATOR);
    if (beforeLoad) await beforeLoad(page);
    await page.goto(url);
    return chat;
  }

  /**
   * Takes this page's network away (or gives it back), as the browser does when the machine
   * goes offline: requests fail, WebSockets drop, `offline` / `online` fire. Through the page's
   * own DevTools session rather than `context.setOffline`, which also waits on every other
   * target of the context: with the packaged Chromium it waited forever in 5 runs of 7 of
   * chat-page.test.ts, on a page that answered everything else.
   */
  async setOffline(offline: boolean): Promise<void> {
    this.cdp ??= this.context.newCDPSession(this.page).then(async (session) => {
      await session.send("Network.enable");
      return session;
    });
    const session = await this.cdp;
    await session.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  }

  /** Fill in the join form; `expectChat: false` when the server may refuse at once. */
  async join(nick: string, room: string, { expectChat = true } = {}): Promise<void> {
    await this.page.fill("#nick", nick);
    await this.page.fill("#room", room);
    await this.page.click("#join-form button[type=submit]");
    if (expectChat) await this.page.waitForSelector("#chat", { state: "visible" });
  }

  /** Type a message and press Enter, as a person would. */
  async send(text: string): Promise<void> {
    await this.page.fill("#text", text);
    await this.page.press("#text", "Enter");
  }

  async indicator(): Promise<{ state: string; text: string; detail: string; retryVisible: boolean }> {
    return this.page.evaluate(() => {
      const root = document.getElementById("status")!;
      const detail = document.getElementById("status-detail")!;
      return {
        state: root.dataset.state ?? "",
        text: document.getElementById("status-text")!.textContent ?? "",
        detail: detail.hidden ? "" : (detail.textContent ?? ""),
        retryVisible: !document.getElementById("status-retry")!.hidden,
      };
    });
  }

  /** Wait until the indicator's headline matches; returns the real milliseconds it took. */
  async waitForIndicator(pattern: RegExp, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await waitUntil(
      async () => pattern.test((await this.indicator()).text),
      timeoutMs,
      `indicator ${pattern} (last: "${(await this.indicator().catch(() => null))?.text}")`,
    ).catch(async (error: Error) => {
      const now = await this.indicator().catch(() => null);
      throw new Error(`${error.message}; indicator shows "${now?.text}" ${now?.detail ?? ""}`);
    });
    return Date.now() - started;
  }

  /** Every state the indicator went through since the page loaded (or since the last clear). */
  async indicatorLog(): Promise<IndicatorChange[]> {
    return this.page.evaluate(() => (window as unknown as { __indicatorLog: IndicatorChange[] }).__indicatorLog);
  }

  async clearIndicatorLog(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { __indicatorLog: IndicatorChange[] };
      w.__indicatorLog = w.__indicatorLog.slice(-1);
    });
  }

  /** Live-region texts since the page loaded (or since the last clear). */
  async announcements(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __announcements: string[] }).__announcements);
  }

  /** Indicator colours since the page loaded (or since the last clear), without repeats. */
  async tones(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __tones: string[] }).__tones);
  }

  async clearAnnouncementsAndTones(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { __announcements: string[]; __tones: string[] };
      w.__announcements = [];
      w.__tones = w.__tones.slice(-1);
    });
  }

  /** The rooms in the sidebar, in order, with their unread badges. */
  async rooms(): Promise<Array<{ name: string; unread: number; current: boolean; held: boolean }>> {
    return this.page.$$eval("#rooms > li", (items) =>
      items.map((li) => ({
        name: (li as HTMLElement).dataset.room ?? "",
        unread: Number(li.querySelector(".badge")?.textContent ?? "0"),
        current: li.querySelector(".room-link")?.getAttribute("aria-current") === "true",
        /** Not joined; listed because messages of ours wait for it. */
        held: li.classList.contains("held"),
      })),
    );
  }

  /** Switch to a room in the sidebar (or join it there when it is not listed). */
  async openRoom(room: string): Promise<void> {
    const listed = this.page.locator(`#rooms > li[data-room="${room}"] .room-link`);
    if ((await listed.count()) > 0) await listed.click();
    else {
      await this.page.fill("#new-room", room);
      await this.page.press("#new-room", "Enter");
    }
    await waitUntil(async () => (await this.page.textContent("#room-title")) === `# ${room}`, 10_000, `room ${room} on screen`);
  }

  async messages(): Promise<SeenMessage[]> {
    return this.page.$$eval("#messages > li", (rows) =>
      rows.map((row) => ({
        from: row.querySelector(".from")?.textContent ?? "",
        grouped: row.classList.contains("cont"),
        text: row.querySelector(".text")?.textContent ?? "",
        status: (row as HTMLElement).dataset.status ?? "",
        timed: (row.querySelector("time")?.textContent ?? "") !== "",
      })),
    );
  }

  async texts(): Promise<string[]> {
    return (await this.messages()).map((m) => m.text);
  }

  /** Wait until the message texts, in order, end with `expected`. */
  async waitForTexts(expected: string[], timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const texts = await this.texts();
        return expected.every((text, i) => texts[texts.length - expected.length + i] === text);
      },
      timeoutMs,
      `messages ending with ${JSON.stringify(expected)} (have ${JSON.stringify(await this.texts().catch(() => []))})`,
    );
  }

  async online(): Promise<string[]> {
    return this.page.$$eval("#online > li", (items) => items.map((li) => li.firstChild?.textContent ?? ""));
  }

  async waitForOnline(nicks: string[], timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const online = await this.online();
        return nicks.every((nick) => online.includes(nick));
      },
      timeoutMs,
      `online list with ${nicks.join(", ")}`,
    );
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}
