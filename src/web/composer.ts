export interface ComposerElements {
  form: HTMLFormElement;
  input: HTMLTextAreaElement;
  /** Where a refusal (outbox full, too long) is explained. */
  note: HTMLElement;
  /** "3,950 / 4,000": shown only near the limit. */
  counter: HTMLElement;
}

/**
 * The server's default `maxTextLength`, in Unicode code points (as the server counts: an
 * emoji is one). The textarea's data-max-length overrides it (the page is built once for any
 * server).
 */
export const MAX_TEXT_LENGTH = 4_000;
/** What the disabled box says in a room this user may only read. */
export const READ_ONLY_PLACEHOLDER = "You can read this room but not write in it.";
/** Show the counter from this share of the limit on: earlier it is noise. */
const COUNTER_FROM = 0.9;

const numbers = new Intl.NumberFormat();

/** Length in code points, not UTF-16 units: the server's measure. */
function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * The message box. Enter sends, Shift+Enter starts a new line. `onSend` returns an error
 * sentence when the message could not be queued; the text then stays in the box. Text over
 * the limit is not cut: the counter says by how much it is over and Send explains.
 */
export class Composer {
  constructor(
    private readonly el: ComposerElements,
    onSend: (text: string) => string | null,
    private readonly onInput: (text: string) => void = () => {},
  ) {
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = el.input.value.trim();
      if (text === "") return;
      const over = codePoints(text) - this.limit();
      const error = over > 0 ? `This message is ${numbers.format(over)} characters too long. Shorten it or split it in two.` : onSend(text);
      el.note.textContent = error ?? "";
      if (error === null) this.setText("");
      el.input.focus();
    });
    el.input.addEventListener("keydown", (event) => {
      // isComposing: Enter that confirms an IME candidate (Japanese, Chinese, ...) must not send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        el.form.requestSubmit();
      }
    });
    el.input.addEventListener("input", () => {
      this.updateCounter();
      this.onInput(el.input.value);
    });
  }

  /** Replace the box's text (a room's draft when switching rooms). */
  setText(text: string): void {
    this.el.input.value = text;
    this.updateCounter();
    this.onInput(text);
  }

  focus(): void {
    this.el.input.focus();
  }

  /**
   * A room where the server lets this user read but not write (its `joined` said readOnly):
   * the box and Send are disabled and the box says why, instead of a send failing later.
   */
  setReadOnly(readOnly: boolean): void {
    const { input, form } = this.el;
    if (input.disabled === readOnly) return;
    this.writablePlaceholder ??= input.placeholder;
    input.disabled = readOnly;
    input.placeholder = readOnly ? READ_ONLY_PLACEHOLDER : this.writablePlaceholder;
    const send = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (send) send.disabled = readOnly;
  }
  private writablePlaceholder: string | undefined;

  private limit(): number {
    const set = Number(this.el.input.dataset.maxLength);
    return Number.isInteger(set) && set > 0 ? set : MAX_TEXT_LENGTH;
  }

  private updateCounter(): void {
    const length = codePoints(this.el.input.value);
    const limit = this.limit();
    const { counter } = this.el;
    counter.hidden = length < limit * COUNTER_FROM;
    counter.dataset.over = String(length > limit);
    counter.textContent = `${numbers.format(length)} / ${numbers.format(limit)}`;
  }
}
