/** When the notifier speaks: which session changes get a toast, which sessions a walltime warning. Pure. */
import type { Session } from '@jupyterlab-interlink/contract';

/** A change gets a toast when its state moved, or when a session launched here is first seen. */
export function wantsNotice(
  session: Session,
  previous: Session | undefined,
  followed: boolean
): boolean {
  return previous ? previous.state !== session.state : followed;
}

/** A fresh start (a move to ready) earns its own walltime warning. */
export function restartsWarning(session: Session, previous: Session | undefined): boolean {
  return !!previous && previous.state !== session.state && session.state === 'ready';
}

/** Ready sessions whose walltime ends within `warnBeforeSeconds`, not warned of yet, with the seconds left. */
export function dueWarnings(
  sessions: readonly Session[],
  now: number,
  warnBeforeSeconds: number,
  warned: ReadonlySet<string>
): { session: Session; left: number }[] {
  const due: { session: Session; left: number }[] = [];
  for (const session of sessions) {
    if (session.state !== 'ready' || !session.endsAt || warned.has(session.id)) {
      continue;
    }
    const left = (Date.parse(session.endsAt) - now) / 1000;
    if (left <= warnBeforeSeconds && left > 0) {
      due.push({ session, left });
    }
  }
  return due;
}
