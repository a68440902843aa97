// How the Monitoring tab writes its figures: counts, times, shares, bytes, a series' name,
// and the sentence of an API message.

export const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export const PRECISE = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

export function shown(value, format = (v) => NUMBER.format(v)) {
  return value === null || value === undefined ? "—" : format(value);
}

export const asCount = (v) => shown(v, (n) => NUMBER.format(n));
export const asMs = (v) => shown(v, (n) => `${NUMBER.format(n)} ms`);
export const asPercent = (v) => shown(v, (n) => `${NUMBER.format(n * 100)}%`);
export const asCpu = (v) => shown(v, (n) => `${NUMBER.format(n)}%`);
export const asPrecise = (v) => shown(v, (n) => PRECISE.format(n));

export function asBytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let number = Math.abs(value);
  let unit = 0;
  while (number >= 1024 && unit < units.length - 1) {
    number /= 1024;
    unit += 1;
  }
  return `${value < 0 ? "-" : ""}${NUMBER.format(number)} ${units[unit]}`;
}

export function timeLabel(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** A series' name: the whole service, a generation, or a generation's challenger calls. */
export function seriesName(entry) {
  if (!entry.generation) return "service";
  return entry.role === "challenger" ? `${entry.generation} (challenger)` : entry.generation;
}

/** A message ending with one full stop. */
export function sentence(text) {
  return `${String(text).replace(/[.\s]+$/, "")}.`;
}
