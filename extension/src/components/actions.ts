import type { CreateSessionRequest, Session } from '@jupyterlab-interlink/contract';

/** What the panel's components ask of the rest of the extension. */
export interface IPanelActions {
  launch(request: CreateSessionRequest): Promise<Session>;
  stop(session: Session): Promise<void>;
  openLogs(session: Session): void;
  /** A file browser on the session's own files (ready kernel sessions). */
  openFiles(session: Session): void;
  useInNotebook(session: Session): Promise<void>;
  /** Whether "Use in notebook" can act now (the session's kernel is reachable). */
  canUse(session: Session): boolean;
}
