import type { ConnectionState } from "../client/types.js";
import { describeConnection, type IndicatorInputs } from "./indicator.js";

export interface IndicatorSource {
  readonly state: ConnectionState;
  readonly inputs: IndicatorInputs;
}

export interface IndicatorElements {
  /** The always-visible box; carries data-state and data-tone for styling and tests. */
  root: HTMLElement;
  icon: HTMLElement;
  text: HTMLElement;
  detail: HTMLElement;
  retry: HTMLButtonElement;
  /** A visually hidden aria-live region: spoken once per phase, not per retry cycle or tick. */
  announcer: HTMLElement;
}

/** Re-render interval for countdowns and "silent for". Under a second so no number is skipped. */
const TICK_MS = 250;

/**
 * Draws the connection indicator. The source is read on every render, so a state event and
 * the ticker both show the latest truth; the indicator itself never decides anything.
 */
export class IndicatorView {
  private source: IndicatorSource | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  /** The phase last spoken: the live region speaks on a change of phase, never within one. */
  private lastPhase: string | null = null;

  constructor(
    private readonly el: IndicatorElements,
    onRetry: () => void,
  ) {
    el.retry.addEventListener("click", () => {
      onRetry();
      // The button hides as the attempt starts; without this, focus would fall to the page
      // body. The indicator box is focusable and its next words say how the attempt goes.
      el.root.focus();
    });
  }

  /** Follow a new source (a new client), or none (back to "Not connected"). */
  follow(source: IndicatorSource | null): void {
    this.source = source;
    this.render();
  }

  render(): void {
    const state: ConnectionState = this.source?.state ?? { kind: "idle" };
    const view = describeConnection(state, Date.now(), this.source?.inputs ?? {});
    const { root, icon, text, detail, retry, announcer } = this.el;
    root.dataset.state = view.kind;
    root.dataset.phase = view.phase;
    root.dataset.tone = view.tone;
    // Only touch the DOM when a value changes, so ticking does not churn layout.
    if (icon.textContent !== view.icon) icon.textContent = view.icon;
    if (text.textContent !== view.text) text.textContent = view.text;
    if (detail.textContent !== view.detail) detail.textContent = view.detail;
    detail.hidden = view.detail === "";
    retry.hidden = !view.retry;
    if (view.phase !== this.lastPhase) {
      this.lastPhase = view.phase;
      announcer.textContent = view.announce;
    }
    this.setTicking(view.ticking);
  }

  dispose(): void {
    this.setTicking(false);
  }

  private setTicking(on: boolean): void {
    if (on && this.ticker === null) {
      this.ticker = setInterval(() => this.render(), TICK_MS);
    } else if (!on && this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }
}
