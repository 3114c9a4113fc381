/**
 * Web apps in jobs (TensorBoard, a Dask dashboard: the ports a kernel session declared) in the
 * launcher, one card per port of each ready session, following the sessions as they change.
 * The session card links the same places; both open `{session url}ports/{port}/`.
 */
import { portUrl, type Session } from '@jupyterlab-interlink/contract';
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ILauncher } from '@jupyterlab/launcher';
import { TranslationBundle } from '@jupyterlab/translation';
import { launchIcon } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { sessionUrl } from './api';
import { CommandIds } from './commands';
import { placeLabel } from './format';
import { IInterlink } from './model';

/** The ready sessions' declared ports, in a stable order. */
export function webApps(sessions: readonly Session[]): { session: Session; port: number }[] {
  return sessions
    .filter(session => session.state === 'ready')
    .flatMap(session => (session.ports ?? []).map(port => ({ session, port })));
}

export function registerWebApps(
  app: JupyterFrontEnd,
  interlink: IInterlink,
  launcher: ILauncher | null,
  trans: TranslationBundle
): void {
  const sessionOf = (args: { sessionId?: unknown }) =>
    interlink.session(String(args.sessionId ?? ''));
  app.commands.addCommand(CommandIds.openWebApp, {
    label: args => {
      const session = sessionOf(args);
      const place = session ? placeLabel(interlink.site(session.site), session) : '';
      return trans.__('Port %1 — %2', String(args.port ?? ''), session?.name || place);
    },
    caption: trans.__('Open the web app that listens on this port in the job'),
    icon: launchIcon,
    describedBy: {
      args: {
        type: 'object',
        properties: { sessionId: { type: 'string' }, port: { type: 'number' } },
        required: ['sessionId', 'port']
      }
    },
    isEnabled: args => sessionOf(args)?.state === 'ready',
    execute: args => {
      const session = sessionOf(args);
      if (session) {
        window.open(portUrl(sessionUrl(session), Number(args.port)), '_blank', 'noopener');
      }
    }
  });
  if (!launcher) {
    return;
  }
  const category = trans.__('Remote Web Apps');
  let items: IDisposable[] = [];
  let listed = '';
  const sync = () => {
    const apps = webApps(interlink.sessions);
    const key = apps.map(({ session, port }) => `${session.id}:${port}`).join(',');
    if (key === listed) {
      return;
    }
    listed = key;
    items.forEach(item => item.dispose());
    items = apps.map(({ session, port }, rank) =>
      launcher.add({
        command: CommandIds.openWebApp,
        args: { sessionId: session.id, port },
        category,
        rank
      })
    );
  };
  interlink.changed.connect(sync);
  sync();
}
