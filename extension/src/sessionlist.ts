/**
 * The caller's sessions as the proxy reports them, newest first: what a pushed session, a removal
 * or a fresh list does to what the panel shows. Pure; the model emits the changes it returns.
 */
import type { Session } from '@jupyterlab-interlink/contract';

/** A change to the list: `previous` is undefined the first time a session is seen. */
export type SessionListChange =
  { kind: 'changed'; session: Session; previous?: Session } | { kind: 'removed'; session: Session };

export class SessionList {
  get all(): Session[] {
    return [...this._sessions.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  get(id: string): Session | undefined {
    return this._sessions.get(id);
  }

  /** A session as pushed or answered; an older or identical copy changes nothing. */
  upsert(session: Session): SessionListChange[] {
    const previous = this._sessions.get(session.id);
    if (previous && previous.updatedAt > session.updatedAt) {
      return [];
    }
    if (previous && JSON.stringify(previous) === JSON.stringify(session)) {
      return [];
    }
    this._sessions.set(session.id, session);
    return [{ kind: 'changed', session, previous }];
  }

  remove(id: string): SessionListChange[] {
    const session = this._sessions.get(id);
    if (!session) {
      return [];
    }
    this._sessions.delete(id);
    return [{ kind: 'removed', session }];
  }

  /** The full list from the server: sessions missing from it are gone. */
  replaceAll(sessions: readonly Session[]): SessionListChange[] {
    const ids = new Set(sessions.map(s => s.id));
    const gone = [...this._sessions.keys()].filter(id => !ids.has(id));
    return [...gone.flatMap(id => this.remove(id)), ...sessions.flatMap(s => this.upsert(s))];
  }

  private _sessions = new Map<string, Session>();
}
