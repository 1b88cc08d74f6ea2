// How times and lists read in the console: the browser's own locale and
// time zone.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

// toTheSecond formats times for when, for logs whose entries come many a
// minute.
export const toTheSecond = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// longDate formats a time in a sentence.
export const longDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeStyle: 'short' });

// when returns a <time> element for an RFC 3339 time, formatted by format,
// or the fallback text when there is none.
export function when(h, rfc3339, fallback = '', format = dateTime) {
  if (!rfc3339) return fallback;
  return h('time', { datetime: rfc3339, title: rfc3339 }, format.format(new Date(rfc3339)));
}

// day formats a Date as a date alone.
export function day(d) {
  return dateOnly.format(d);
}

// words splits a space-separated list, such as a scope, into its words.
export function words(s) {
  return (s || '').split(' ').filter(Boolean);
}

// dateInputValue returns the YYYY-MM-DD of a Date in local time, as an
// <input type="date"> holds it.
export function dateInputValue(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// endOfDay returns the last second of a YYYY-MM-DD date in local time,
// or null when the value is not such a date.
export function endOfDay(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59);
}
