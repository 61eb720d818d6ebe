const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const longDay = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

const DAY_MS = 24 * 60 * 60 * 1000;

/** A <time> element: hour and minute visible, the full date on hover and in `datetime`. */
export function timeElement(ms: number): HTMLTimeElement {
  const el = document.createElement("time");
  const date = new Date(ms);
  el.dateTime = date.toISOString();
  el.textContent = timeOfDay.format(date);
  el.title = fullDate.format(date);
  return el;
}

/** The local calendar day of a timestamp, as a key: two messages on one day share it. */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", or the full local date, for a day separator. */
export function dayLabel(ms: number, now = Date.now()): string {
  if (dayKey(ms) === dayKey(now)) return "Today";
  if (dayKey(ms) === dayKey(now - DAY_MS)) return "Yesterday";
  return longDay.format(new Date(ms));
}
