import { ReactWidget } from '@jupyterlab/ui-components';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { IPanelActions } from '../components/actions';
import { SessionCard } from '../components/SessionCard';
import { SiteCard } from '../components/SiteCard';
import { IInterlink } from '../model';

export interface ISitesPanelOptions {
  interlink: IInterlink;
  actions: IPanelActions;
  trans: TranslationBundle;
}

/** The left sidebar: sites with their profiles and a launch form, then the caller's sessions. */
export class SitesPanel extends ReactWidget {
  constructor(private readonly _props: ISitesPanelOptions) {
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

/** The panel's content: stream status, sites (or why there are none), then the caller's sessions. */
function PanelView({ interlink, actions, trans }: ISitesPanelOptions): React.ReactElement {
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
            month={interlink.monthUsage?.sites.find(u => u.site === site.id)}
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
