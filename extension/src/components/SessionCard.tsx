import { isFinalState, portUrl, type Session, type Site } from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import {
  agentLabel,
  exitWords,
  placeLabel,
  queueWords,
  stateLabel,
  takeoverWords,
  timeLine,
  usageLine
} from '../format';
import { sessionUrl } from '../api';
import { IInterlink } from '../model';
import { IPanelActions } from './actions';
import { LogTail } from './LogTail';
import { useNow } from './useNow';

export interface ISessionProps {
  interlink: IInterlink;
  session: Session;
  site: Site | undefined;
  trans: TranslationBundle;
  actions: IPanelActions;
}

/** One session: where and what, its state and clock, queue reason, progress, why it ended, actions. */
export function SessionCard({
  interlink,
  session,
  site,
  trans,
  actions
}: ISessionProps): React.ReactElement {
  const now = useNow(1000);
  const [error, setError] = React.useState<string | null>(null);
  const final = isFinalState(session.state);
  const starting = ['pending', 'queued', 'starting'].includes(session.state);
  const run = (f: () => Promise<void>) => () => {
    setError(null);
    f().catch(err => setError((err as Error).message));
  };
  const title = placeLabel(site, session);
  return (
    <li
      className={`jp-InterlinkSession jp-mod-${session.state}`}
      data-testid={`interlink-session-${session.id}`}
      data-state={session.state}
      aria-label={`${session.name ?? title}: ${stateLabel(session.state, trans)}`}
    >
      <div className="jp-InterlinkSession-head">
        <span className="jp-InterlinkSession-title" title={session.id}>
          {session.name ? `${session.name} — ${title}` : title}
        </span>
        <span
          className={`jp-InterlinkState jp-mod-${session.state}`}
          data-testid="interlink-session-state"
        >
          {stateLabel(session.state, trans)}
        </span>
      </div>
      <div className="jp-InterlinkSession-meta">
        <span>{session.type === 'kernel' ? trans.__('Kernel') : trans.__('Job')}</span>
        {session.type === 'job' && session.path && <span>{session.path}</span>}
        <span data-testid="interlink-session-time">{timeLine(session, now, trans)}</span>
      </div>
      {session.state === 'ready' && interlink.usage(session.id) && (
        <div className="jp-InterlinkSession-usage" data-testid="interlink-session-usage">
          {usageLine(interlink.usage(session.id)!, trans)}
        </div>
      )}
      {!final && session.agent && (
        <div className="jp-InterlinkSession-agent" data-testid="interlink-session-agent">
          {trans.__('Agent: %1', agentLabel(session.agent))}
        </div>
      )}
      {session.state === 'ready' && session.idle && (
        <div
          className="jp-InterlinkSession-idle"
          role="status"
          data-testid="interlink-session-idle"
        >
          {trans.__(
            'Idle since %1; stops at %2 unless used.',
            new Date(session.idle.since).toLocaleTimeString(),
            new Date(session.idle.stopsAt).toLocaleTimeString()
          )}{' '}
          <button
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-testid="interlink-keep"
            onClick={run(() => interlink.keep(session.id))}
          >
            {trans.__('Keep running')}
          </button>
        </div>
      )}
      {!final && session.takeovers && session.takeovers.length > 0 && (
        <div
          className="jp-InterlinkSession-takeover"
          role="alert"
          data-testid="interlink-session-takeover"
        >
          {takeoverWords(session.takeovers[session.takeovers.length - 1], title, trans)}
        </div>
      )}
      {session.state === 'queued' && session.queue?.reason && (
        <div className="jp-InterlinkSession-queue" data-testid="interlink-session-queue">
          {trans.__('Waiting in the queue: %1', queueWords(session.queue.reason, trans))}
        </div>
      )}
      {starting && session.progress && session.progress.length > 0 && (
        <ol className="jp-InterlinkSession-progress" data-testid="interlink-session-progress">
          {session.progress.map((step, i) => (
            <li key={i} className={i === session.progress!.length - 1 ? 'jp-mod-current' : ''}>
              {step}
            </li>
          ))}
        </ol>
      )}
      {session.state === 'ready' && session.ports && session.ports.length > 0 && (
        <div className="jp-InterlinkSession-ports" data-testid="interlink-session-ports">
          {trans.__('Web apps:')}{' '}
          {session.ports.map(port => (
            <a
              key={port}
              href={portUrl(sessionUrl(session), port)}
              target="_blank"
              rel="noopener noreferrer"
              data-testid={`interlink-port-${port}`}
              title={trans.__('Open what listens on port %1 in the job', port)}
            >
              {port}
            </a>
          ))}
        </div>
      )}
      {session.state === 'starting' && <LogTail interlink={interlink} sessionId={session.id} />}
      {(session.state === 'failed' ||
        session.state === 'expired' ||
        session.state === 'cancelled') &&
        session.reason && (
          <div
            className={`jp-InterlinkSession-reason jp-mod-${session.state}`}
            data-testid="interlink-session-reason"
          >
            {session.reason}
            {exitWords(session.exitCode, session.reason, trans) && (
              <div className="jp-InterlinkSession-why">
                {exitWords(session.exitCode, session.reason, trans)}
              </div>
            )}
          </div>
        )}
      {error && (
        <div className="jp-InterlinkPanel-error" role="alert">
          {error}
        </div>
      )}
      <div className="jp-InterlinkSession-actions">
        {session.type === 'kernel' && session.state === 'ready' && (
          <button
            className="jp-InterlinkButton jp-mod-accept"
            data-testid="interlink-use"
            disabled={!actions.canUse(session)}
            title={trans.__("Switch the current notebook's kernel to this session")}
            onClick={run(() => actions.useInNotebook(session))}
          >
            {trans.__('Use in notebook')}
          </button>
        )}
        {session.type === 'kernel' && actions.canUse(session) && (
          <button
            className="jp-InterlinkButton"
            data-testid="interlink-files"
            title={trans.__("This session's own files, on its remote side")}
            onClick={() => actions.openFiles(session)}
          >
            {trans.__('Files')}
          </button>
        )}
        <button
          className="jp-InterlinkButton"
          data-testid="interlink-logs"
          onClick={() => actions.openLogs(session)}
        >
          {trans.__('Logs')}
        </button>
        {!final && session.state !== 'stopping' && (
          <button
            className="jp-InterlinkButton jp-mod-warn"
            data-testid="interlink-stop"
            aria-label={trans.__('Stop %1', title)}
            onClick={run(() => actions.stop(session))}
          >
            {trans.__('Stop')}
          </button>
        )}
      </div>
    </li>
  );
}
