import * as React from 'react';

/** The time, re-read every `intervalMs`: for clocks that count. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
