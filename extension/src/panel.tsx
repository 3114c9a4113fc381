import {
  CreateSessionRequest,
  firstProblem,
  formatWalltime,
  isFinalState,
  parseWalltime,
  type Profile,
  type Session,
  type Site
} from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';
import { ApiError } from './api';
import {
  exitWords,
  healthLabel,
  kindLabel,
  queueWords,
  resourcesLabel,
  stateLabel,
  timeLine
} from './format';
import { IInterlink } from './model';

/** What the panel asks of the rest of the extension. */
export interface IPanelActions {
  launch(request: CreateSessionRequest): Promise<Session>;
  stop(session: Session): Promise<void>;
  openLogs(session: Session): void;
  useInNotebook(session: Session): Promise<void>;
  /** Whether "Use in notebook" can act now (the session's kernel is reachable). */
  canUse(session: Session): boolean;
}

interface IProps {
  interlink: IInterlink;
  actions: IPanelActions;
  trans: TranslationBundle;
}

/** The left sidebar: sites with their profiles and a launch form, then the caller's sessions. */
export class SitesPanel extends ReactWidget {
  constructor(private readonly _props: IProps) {
    super();
    this.id = 'interlink-sites';
    this.addClass('jp-InterlinkPanel');
    this.node.setAttribute('data-testid', 'interlink-sites-panel');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', _props.trans.__('Remote sites'));
    _props.interlink.changed.connect(() => this.update(), this);
  }

  protected render(): React.ReactElement {
    return <PanelView {...this._props} />;
  }
}

function useNow(intervalMs: number): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function PanelView({ interlink, actions, trans }: IProps): React.ReactElement {
  const [formFor, setFormFor] = React.useState<{ site: string; profile: string } | null>(null);
  const sites = interlink.sites;
  const sessions = interlink.sessions;
  return (
    <div className="jp-InterlinkPanel-body">
      <header className="jp-InterlinkPanel-header">
        <h2>{trans.__('Remote sites')}</h2>
        <span
          className={`jp-InterlinkPanel-stream jp-mod-${interlink.streamStatus}`}
          title={
            interlink.streamStatus === 'live'
              ? trans.__('Updates arrive live')
              : trans.__('Reconnecting to the interLink service…')
          }
          data-testid="interlink-stream-status"
        >
          {interlink.streamStatus === 'live' ? trans.__('live') : trans.__('reconnecting')}
        </span>
      </header>
      {interlink.sitesError && (
        <div className="jp-InterlinkPanel-error" role="alert">
          {trans.__('Sites cannot be listed: %1', interlink.sitesError)}{' '}
          <button className="jp-InterlinkButton" onClick={() => void interlink.refreshSites()}>
            {trans.__('Try again')}
          </button>
        </div>
      )}
      {!interlink.sitesError && sites.length === 0 && (
        <p className="jp-InterlinkPanel-empty">
          {interlink.sitesLoaded
            ? trans.__('No remote sites are configured on this hub.')
            : trans.__('Loading sites…')}
        </p>
      )}
      <ul className="jp-InterlinkSites" aria-label={trans.__('Sites')}>
        {sites.map(site => (
          <SiteCard
            key={site.id}
            site={site}
            trans={trans}
            actions={actions}
            formProfile={formFor?.site === site.id ? formFor.profile : null}
            onConfigure={profile =>
              setFormFor(
                formFor?.site === site.id && formFor.profile === profile
                  ? null
                  : { site: site.id, profile }
              )
            }
            onCloseForm={() => setFormFor(null)}
          />
        ))}
      </ul>
      <h3 className="jp-InterlinkPanel-section">{trans.__('Your sessions')}</h3>
      {sessions.length === 0 ? (
        <p className="jp-InterlinkPanel-empty">
          {trans.__('No sessions yet. Press Run on a profile to start one.')}
        </p>
      ) : (
        <ul
          className="jp-InterlinkSessions"
          data-testid="interlink-sessions"
          aria-label={trans.__('Your sessions')}
        >
          {sessions.map(session => (
            <SessionCard
              key={session.id}
              interlink={interlink}
              session={session}
              site={interlink.site(session.site)}
              trans={trans}
              actions={actions}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

interface ISiteProps {
  site: Site;
  trans: TranslationBundle;
  actions: IPanelActions;
  formProfile: string | null;
  onConfigure(profile: string): void;
  onCloseForm(): void;
}

function SiteCard(props: ISiteProps): React.ReactElement {
  const { site, trans, actions } = props;
  const [busy, setBusy] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const quickRun = async (profile: Profile) => {
    setBusy(profile.id);
    setError(null);
    try {
      await actions.launch({ site: site.id, profile: profile.id, type: 'kernel' });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(null);
    }
  };
  const titleId = `interlink-site-title-${site.id}`;
  return (
    <li
      className="jp-InterlinkSite"
      data-testid={`interlink-site-${site.id}`}
      aria-labelledby={titleId}
    >
      <div className="jp-InterlinkSite-head">
        <span className="jp-InterlinkSite-name" id={titleId}>
          {site.displayName}
        </span>
        <span className={`jp-InterlinkBadge jp-mod-${site.kind}`}>{kindLabel(site.kind)}</span>
        <span
          className={`jp-InterlinkHealth jp-mod-${site.health.status}`}
          title={site.health.message ?? ''}
        >
          {healthLabel(site.health.status, trans)}
        </span>
      </div>
      {(site.description || site.health.message || site.health.freeGpus !== undefined) && (
        <div className="jp-InterlinkSite-meta">
          {site.description && <span>{site.description}</span>}
          {site.health.message && <span>{site.health.message}</span>}
          {site.health.freeGpus !== undefined && (
            <span data-testid={`interlink-free-gpus-${site.id}`}>
              {site.health.freeGpus === 1
                ? trans.__('%1 GPU free', 1)
                : trans.__('%1 GPUs free', site.health.freeGpus)}
            </span>
          )}
        </div>
      )}
      <ul
        className="jp-InterlinkProfiles"
        aria-label={trans.__('Profiles of %1', site.displayName)}
      >
        {site.profiles.map(profile => (
          <li key={profile.id} className="jp-InterlinkProfile">
            <div className="jp-InterlinkProfile-text">
              <span className="jp-InterlinkProfile-name">{profile.displayName}</span>
              <span className="jp-InterlinkProfile-resources">
                {resourcesLabel(profile, trans)} ·{' '}
                {trans.__('up to %1', formatWalltime(profile.maxWalltime))}
              </span>
            </div>
            <button
              className="jp-InterlinkButton"
              aria-expanded={props.formProfile === profile.id}
              aria-label={trans.__('Options for %1 on %2', profile.displayName, site.displayName)}
              title={trans.__('Choose walltime, kernel or job…')}
              data-testid={`interlink-configure-${site.id}-${profile.id}`}
              onClick={() => props.onConfigure(profile.id)}
            >
              {trans.__('Options')}
            </button>
            <button
              className="jp-InterlinkButton jp-mod-accept"
              aria-label={trans.__('Run %1 on %2', profile.displayName, site.displayName)}
              title={trans.__(
                'Start a kernel with %1 for %2',
                resourcesLabel(profile, trans),
                formatWalltime(profile.defaultWalltime)
              )}
              data-testid={`interlink-run-${site.id}-${profile.id}`}
              disabled={busy !== null || site.health.status === 'down'}
              onClick={() => void quickRun(profile)}
            >
              {busy === profile.id ? trans.__('Starting…') : trans.__('Run')}
            </button>
          </li>
        ))}
      </ul>
      {error && (
        <div className="jp-InterlinkPanel-error" role="alert">
          {error}
        </div>
      )}
      {props.formProfile !== null && (
        <LaunchForm
          site={site}
          initialProfile={props.formProfile}
          trans={trans}
          actions={actions}
          onDone={props.onCloseForm}
        />
      )}
    </li>
  );
}

interface IFormProps {
  site: Site;
  initialProfile: string;
  trans: TranslationBundle;
  actions: IPanelActions;
  onDone(): void;
}

interface IFieldError {
  field?: string;
  message: string;
}

/** Validates as the user types, with the server's own schema plus the profile's walltime bound. */
function validate(
  site: Site,
  profile: Profile | undefined,
  walltimeText: string,
  request: Record<string, unknown>,
  trans: TranslationBundle
): IFieldError | null {
  if (walltimeText.trim() && Number.isNaN(parseWalltime(walltimeText))) {
    return {
      field: 'walltime',
      message: trans.__('walltime: write it as H:MM:SS, D-HH:MM:SS or minutes')
    };
  }
  if (typeof request.walltime === 'number' && request.walltime < 60) {
    return { field: 'walltime', message: trans.__('walltime: at least %1', formatWalltime(60)) };
  }
  const problem = firstProblem(CreateSessionRequest, request);
  if (problem) {
    return problem;
  }
  if (!profile) {
    return { field: 'profile', message: trans.__('profile: choose one of %1', site.displayName) };
  }
  const walltime = request.walltime as number | undefined;
  if (walltime !== undefined && walltime > profile.maxWalltime) {
    return {
      field: 'walltime',
      message: trans.__(
        'walltime: at most %1 with %2',
        formatWalltime(profile.maxWalltime),
        profile.displayName
      )
    };
  }
  if (request.type === 'job' && !request.path) {
    return {
      field: 'path',
      message: trans.__('path: the notebook or script the job runs')
    };
  }
  return null;
}

function LaunchForm({
  site,
  initialProfile,
  trans,
  actions,
  onDone
}: IFormProps): React.ReactElement {
  const [profileId, setProfileId] = React.useState(initialProfile);
  const profile = site.profiles.find(p => p.id === profileId);
  const [walltimeText, setWalltimeText] = React.useState(
    formatWalltime(profile?.defaultWalltime ?? 3600)
  );
  const [type, setType] = React.useState<'kernel' | 'job'>('kernel');
  const [path, setPath] = React.useState('');
  const [name, setName] = React.useState('');
  const [serverError, setServerError] = React.useState<IFieldError | null>(null);
  const [submitting, setSubmitting] = React.useState(false);

  React.useEffect(() => setProfileId(initialProfile), [initialProfile]);

  const request: Record<string, unknown> = { site: site.id, profile: profileId, type };
  const seconds = parseWalltime(walltimeText);
  if (walltimeText.trim()) {
    request.walltime = Number.isNaN(seconds) ? walltimeText : seconds;
  }
  if (type === 'job' && path) {
    request.path = path;
  }
  if (name) {
    request.name = name;
  }
  const problem = validate(site, profile, walltimeText, request, trans) ?? serverError;
  const errorFor = (field: string) => (problem?.field === field ? problem.message : null);
  const formId = `interlink-form-${site.id}`;
  const changed =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      setServerError(null);
      set(v);
    };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (problem) {
      return;
    }
    setSubmitting(true);
    try {
      await actions.launch(request as CreateSessionRequest);
      onDone();
    } catch (err) {
      const field = err instanceof ApiError ? err.field : undefined;
      setServerError({ field, message: (err as Error).message });
    } finally {
      setSubmitting(false);
    }
  };

  const fieldProps = (field: string) => ({
    id: `${formId}-${field}`,
    'aria-invalid': errorFor(field) ? true : undefined,
    'aria-describedby': errorFor(field) ? `${formId}-${field}-error` : undefined,
    'data-testid': `interlink-field-${field}`
  });
  const fieldError = (field: string) =>
    errorFor(field) && (
      <div
        className="jp-InterlinkForm-error"
        id={`${formId}-${field}-error`}
        data-testid={`interlink-error-${field}`}
        role="alert"
      >
        {errorFor(field)}
      </div>
    );

  return (
    <form
      className="jp-InterlinkForm"
      data-testid="interlink-launch-form"
      aria-label={trans.__('Launch on %1', site.displayName)}
      onSubmit={e => void submit(e)}
      noValidate
    >
      <label htmlFor={`${formId}-profile`}>{trans.__('Profile')}</label>
      <select
        className="jp-mod-styled"
        value={profileId}
        onChange={e => changed(setProfileId)(e.target.value)}
        {...fieldProps('profile')}
      >
        {site.profiles.map(p => (
          <option key={p.id} value={p.id}>
            {p.displayName} ({resourcesLabel(p, trans)})
          </option>
        ))}
      </select>
      {fieldError('profile')}

      <label htmlFor={`${formId}-walltime`}>
        {trans.__('Walltime')}
        {profile && (
          <span className="jp-InterlinkForm-hint">
            {' '}
            {trans.__('(at most %1)', formatWalltime(profile.maxWalltime))}
          </span>
        )}
      </label>
      <input
        className="jp-mod-styled"
        type="text"
        inputMode="numeric"
        placeholder="1:00:00"
        value={walltimeText}
        onChange={e => changed(setWalltimeText)(e.target.value)}
        {...fieldProps('walltime')}
      />
      {fieldError('walltime')}

      <fieldset className="jp-InterlinkForm-type">
        <legend>{trans.__('Run as')}</legend>
        <label>
          <input
            type="radio"
            name={`${formId}-type`}
            checked={type === 'kernel'}
            onChange={() => changed(setType)('kernel')}
            data-testid="interlink-field-type-kernel"
          />{' '}
          {trans.__('Kernel for my notebooks')}
        </label>
        <label>
          <input
            type="radio"
            name={`${formId}-type`}
            checked={type === 'job'}
            onChange={() => changed(setType)('job')}
            data-testid="interlink-field-type-job"
          />{' '}
          {trans.__('Batch job')}
        </label>
      </fieldset>
      {fieldError('type')}

      {type === 'job' && (
        <>
          <label htmlFor={`${formId}-path`}>{trans.__('Notebook or script to run')}</label>
          <input
            className="jp-mod-styled"
            type="text"
            placeholder="analysis.ipynb"
            value={path}
            onChange={e => changed(setPath)(e.target.value)}
            {...fieldProps('path')}
          />
          {fieldError('path')}
        </>
      )}

      <label htmlFor={`${formId}-name`}>{trans.__('Label (optional)')}</label>
      <input
        className="jp-mod-styled"
        type="text"
        value={name}
        onChange={e => changed(setName)(e.target.value)}
        {...fieldProps('name')}
      />
      {fieldError('name')}
      {problem &&
        !['profile', 'walltime', 'type', 'path', 'name'].includes(problem.field ?? '') && (
          <div className="jp-InterlinkForm-error" role="alert" data-testid="interlink-error-form">
            {problem.message}
          </div>
        )}

      <div className="jp-InterlinkForm-buttons">
        <button type="button" className="jp-InterlinkButton" onClick={onDone}>
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-InterlinkButton jp-mod-accept"
          disabled={!!problem || submitting}
          data-testid="interlink-launch"
        >
          {submitting ? trans.__('Launching…') : trans.__('Launch')}
        </button>
      </div>
    </form>
  );
}

interface ISessionProps {
  interlink: IInterlink;
  session: Session;
  site: Site | undefined;
  trans: TranslationBundle;
  actions: IPanelActions;
}

function SessionCard({
  interlink,
  session,
  site,
  trans,
  actions
}: ISessionProps): React.ReactElement {
  const now = useNow(1000);
  const [error, setError] = React.useState<string | null>(null);
  const profile = site?.profiles.find(p => p.id === session.profile);
  const final = isFinalState(session.state);
  const starting = ['pending', 'queued', 'starting'].includes(session.state);
  const run = (f: () => Promise<void>) => () => {
    setError(null);
    f().catch(err => setError((err as Error).message));
  };
  const title = `${site?.displayName ?? session.site} · ${profile?.displayName ?? session.profile}`;
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

/** The last lines of a starting session's log, following, so a slow start shows what it does. */
function LogTail({
  interlink,
  sessionId
}: {
  interlink: IInterlink;
  sessionId: string;
}): React.ReactElement | null {
  const [lines, setLines] = React.useState<string[]>([]);
  React.useEffect(() => {
    const abort = new AbortController();
    let text = '';
    void (async () => {
      try {
        const response = await interlink.api.logs(sessionId, abort.signal, 5);
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            return;
          }
          text = (text + decoder.decode(value, { stream: true })).slice(-4000);
          setLines(text.split('\n').filter(Boolean).slice(-5));
        }
      } catch {
        // the card shows progress steps anyway
      }
    })();
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
