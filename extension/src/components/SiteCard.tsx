import {
  formatWalltime,
  type Profile,
  type Site,
  type SiteUsage
} from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { healthLabel, kindLabel, monthLine, resourcesLabel } from '../format';
import { IPanelActions } from './actions';
import { LaunchForm } from './LaunchForm';

export interface ISiteProps {
  site: Site;
  /** What the caller used on this site this month, when the server says. */
  month?: SiteUsage;
  trans: TranslationBundle;
  actions: IPanelActions;
  formProfile: string | null;
  onConfigure(profile: string): void;
  onCloseForm(): void;
}

/** One site: its kind and health, its profiles with Options and Run, and the launch form. */
export function SiteCard(props: ISiteProps): React.ReactElement {
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
      {props.month &&
        (props.month.gpuHours > 0 || props.month.coreHours > 0 || props.month.budget) && (
          <div className="jp-InterlinkSite-month" data-testid={`interlink-month-${site.id}`}>
            {monthLine(props.month, trans)}
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
