const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A <time> element: hour and minute visible, the full date on hover and in `datetime`. */
export function timeElement(ms: number): HTMLTimeElement {
  const el = document.createElement("time");
  const date = new Date(ms);
  el.dateTime = date.toISOString();
  el.textContent = timeOfDay.format(date);
  el.title = fullDate.format(date);
  return el;
}
