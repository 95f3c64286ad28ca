/**
 * The arithmetic of a cron schedule's times, for the scheduler (schedule.ts, which asks
 * node-cron whether a time matches and for the fields; nothing here imports it).
 */

/** A schedule's hours, minutes and seconds, as node-cron's `parse()` gives them. */
export interface ScheduleTimes {
  hour: readonly number[];
  minute: readonly number[];
  second: readonly number[];
}

/** Counted to this many days at most: a clock set a century ahead costs about 0.4 s. */
const maxCountedDays = 366 * 100;

/**
 * How many of the schedule's times fall in [fromMs, toMs], in local time as node-cron reads
 * it. Day by day, not time by time (a year of a job every 10 s is 3.2 million of them): a day
 * matches or not as a whole (its month, day of month and weekday), and a matching day inside
 * the range has all its hours x minutes x seconds; only the two ends are counted time by time.
 * Exact but for the hour a time-zone change skips or repeats.
 */
export function countTimes(
  matches: (date: Date) => boolean,
  times: ScheduleTimes,
  fromMs: number,
  toMs: number,
): number {
  const [hours, minutes, seconds] = [times.hour, times.minute, times.second].map((values) =>
    [...values].sort((a, b) => a - b),
  ) as [number[], number[], number[]];
  const perDay = hours.length * minutes.length * seconds.length;
  const start = new Date(fromMs);
  let day = new Date(start.getFullYear(), start.getMonth(), start.getDate());
  let count = 0;
  for (let n = 0; n < maxCountedDays && day.getTime() <= toMs; n++) {
    const [y, mo, d] = [day.getFullYear(), day.getMonth(), day.getDate()];
    const nextDay = new Date(y, mo, d + 1);
    const at: LocalTime = (h, m = 0, sec = 0) => new Date(y, mo, d, h, m, sec).getTime();
    // Whether it is one of the schedule's days: asked of its first time.
    if (matches(new Date(at(hours[0] ?? 0, minutes[0], seconds[0])))) {
      const whole = day.getTime() >= fromMs && nextDay.getTime() <= toMs + 1;
      count += whole ? perDay : countInDay(at, [hours, minutes, seconds], fromMs, toMs);
    }
    day = nextDay;
  }
  return count;
}

/** The time of day `h:m:sec` on one day, in ms. */
type LocalTime = (h: number, m?: number, sec?: number) => number;

/** The times of a day at an end of the range; its hours and minutes outside it are skipped. */
function countInDay(
  at: LocalTime,
  [hours, minutes, seconds]: [number[], number[], number[]],
  fromMs: number,
  toMs: number,
): number {
  let count = 0;
  for (const h of hours) {
    if (at(h, 59, 59) < fromMs) continue;
    if (at(h) > toMs) break;
    for (const m of minutes) {
      if (at(h, m, 59) < fromMs) continue;
      if (at(h, m) > toMs) break;
      for (const sec of seconds) {
        const ms = at(h, m, sec);
        if (ms >= fromMs && ms <= toMs) count++;
      }
    }
  }
  return count;
}
