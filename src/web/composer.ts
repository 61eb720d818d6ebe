export interface ComposerElements {
  form: HTMLFormElement;
  input: HTMLTextAreaElement;
  /** Where a refusal (outbox full) is explained. */
  note: HTMLElement;
}

/**
 * The message box. Enter sends, Shift+Enter starts a new line. `onSend` returns an error
 * sentence when the message could not be queued; the text then stays in the box.
 */
export class Composer {
  constructor(
    private readonly el: ComposerElements,
    onSend: (text: string) => string | null,
  ) {
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = el.input.value.trim();
      if (text === "") return;
      const error = onSend(text);
      el.note.textContent = error ?? "";
      if (error === null) el.input.value = "";
      el.input.focus();
    });
    el.input.addEventListener("keydown", (event) => {
      // isComposing: Enter that confirms an IME candidate (Japanese, Chinese, ...) must not send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        el.form.requestSubmit();
      }
    });
  }

  focus(): void {
    this.el.input.focus();
  }
}
