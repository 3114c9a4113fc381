/**
 * Service-manager plugins (JupyterLab >= 4.4 builds its ServiceManager from these): they replace
 * the core kernel spec, kernel and session managers with routing ones, so remote kernels show up in
 * JupyterLab's own kernel picker.
 */
import {
  IConnectionStatus,
  IKernelManager,
  IKernelSpecManager,
  IServerSettings,
  ISessionManager,
  Kernel,
  KernelManager,
  KernelSpec,
  KernelSpecManager,
  ServerConnection,
  ServiceManagerPlugin,
  Session,
  SessionManager
} from '@jupyterlab/services';
import { Token } from '@lumino/coreutils';
import { IInterlink, InterlinkModel } from './model';
import { RemoteBackends } from './remote';
import { RoutingKernelManager } from './routing/kernels';
import { RoutingKernelSpecManager } from './routing/kernelspecs';
import { RoutingSessionManager } from './routing/sessions';

export const IRemoteKernels = new Token<RemoteBackends>(
  '@jupyterlab-interlink/extension:IRemoteKernels',
  'The remote Jupyter servers of ready kernel sessions.'
);

function standby(connectionStatus: IConnectionStatus | undefined) {
  return () => !connectionStatus?.isConnected || 'when-hidden';
}

const client: ServiceManagerPlugin<IInterlink> = {
  id: '@jupyterlab-interlink/extension:client',
  description: 'The interLink proxy server: sites, sessions and their live events.',
  autoStart: true,
  provides: IInterlink,
  optional: [IServerSettings],
  activate: (_: null, serverSettings: ServerConnection.ISettings | undefined): IInterlink =>
    new InterlinkModel(serverSettings ?? ServerConnection.makeSettings())
};

const remoteKernels: ServiceManagerPlugin<RemoteBackends> = {
  id: '@jupyterlab-interlink/extension:remote-kernels',
  description: 'Connects to the Jupyter server of each ready remote kernel session.',
  autoStart: true,
  provides: IRemoteKernels,
  requires: [IInterlink],
  activate: (_: null, interlink: IInterlink): RemoteBackends => new RemoteBackends(interlink)
};

/** What a stock local manager is made with: this server's settings, and when to poll less. */
interface ILocalOptions {
  serverSettings?: ServerConnection.ISettings;
  standby: () => boolean | 'when-hidden';
}

/**
 * A plugin that provides a routing manager: `create` gets the local manager's options, then what
 * the plugin `requires`, in order.
 */
function routingPlugin<T>(
  plugin: Pick<ServiceManagerPlugin<T>, 'id' | 'description' | 'provides' | 'requires'> & {
    create(local: ILocalOptions, ...required: unknown[]): T;
  }
): ServiceManagerPlugin<T> {
  const count = plugin.requires?.length ?? 0;
  return {
    id: plugin.id,
    description: plugin.description,
    autoStart: true,
    provides: plugin.provides,
    requires: plugin.requires,
    optional: [IServerSettings, IConnectionStatus],
    activate: (_: null, ...args: unknown[]): T => {
      const [serverSettings, connectionStatus] = args.slice(count) as [
        ServerConnection.ISettings | undefined,
        IConnectionStatus | undefined
      ];
      const local = { serverSettings, standby: standby(connectionStatus) };
      return plugin.create(local, ...args.slice(0, count));
    }
  };
}

const kernelSpecManager = routingPlugin<KernelSpec.IManager>({
  id: '@jupyterlab-interlink/extension:kernel-spec-manager',
  description: 'Kernel specs of this server plus one per ready remote kernel session.',
  provides: IKernelSpecManager,
  requires: [IInterlink, IRemoteKernels],
  create: (local, interlink: IInterlink, backends: RemoteBackends) =>
    new RoutingKernelSpecManager(new KernelSpecManager(local), backends, interlink)
});

const kernelManager = routingPlugin<Kernel.IManager>({
  id: '@jupyterlab-interlink/extension:kernel-manager',
  description: 'Kernels of this server plus those of remote kernel sessions.',
  provides: IKernelManager,
  requires: [IRemoteKernels],
  create: (local, backends: RemoteBackends) =>
    new RoutingKernelManager(new KernelManager(local), backends)
});

const sessionManager = routingPlugin<Session.IManager>({
  id: '@jupyterlab-interlink/extension:session-manager',
  description:
    'Sessions of this server plus those of remote kernel sessions; moves notebooks between them.',
  provides: ISessionManager,
  requires: [IKernelManager, IRemoteKernels],
  create: (local, kernels: Kernel.IManager, backends: RemoteBackends) => {
    // The local session manager connects local kernels through the local kernel manager.
    const kernelManager = kernels instanceof RoutingKernelManager ? kernels.local : kernels;
    return new RoutingSessionManager(new SessionManager({ ...local, kernelManager }), backends);
  }
});

export const servicePlugins = [
  client,
  remoteKernels,
  kernelSpecManager,
  kernelManager,
  sessionManager
];
