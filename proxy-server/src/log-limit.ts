/**
 * At most `max` lines per window for one kind of event, then one line saying how many were left
 * out: anyone can make the server refuse things, and must not be able to fill its disk that way.
 */
export interface LogLimit {
  /** Calls `write` (with how many were left out since the last written line) if within budget. */
  (write: (suppressed: number) => void): void;
}

export function logLimit(max: number, windowMs: number, now = () => Date.now()): LogLimit {
  let windowStart = -Infinity;
  let written = 0;
  let suppressed = 0;
  return write => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      written = 0;
    }
    if (written >= max) {
      suppressed++;
      return;
    }
    written++;
    const left = suppressed;
    suppressed = 0;
    write(left);
  };
}
