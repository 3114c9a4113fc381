import * as React from 'react';
import { followLog, TailLines } from '../logstream';
import { IInterlink } from '../model';

/** The last lines of a starting session's log, following, so a slow start shows what it does. */
export function LogTail({
  interlink,
  sessionId
}: {
  interlink: IInterlink;
  sessionId: string;
}): React.ReactElement | null {
  const [lines, setLines] = React.useState<string[]>([]);
  React.useEffect(() => {
    const abort = new AbortController();
    const tail = new TailLines(5);
    // One connection: the card shows progress steps anyway, and goes once the session is ready.
    void followLog({
      open: (lines, signal) => interlink.api.logs(sessionId, signal, lines),
      signal: abort.signal,
      tail: 5,
      onText: text => setLines(tail.push(text))
    });
    return () => abort.abort();
  }, [sessionId]);
  if (!lines.length) {
    return null;
  }
  return (
    <pre className="jp-InterlinkSession-tail" data-testid="interlink-session-log-tail">
      {lines.join('\n')}
    </pre>
  );
}
