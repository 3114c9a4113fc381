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

const kernelSpecManager: ServiceManagerPlugin<KernelSpec.IManager> = {
  id: '@jupyterlab-interlink/extension:kernel-spec-manager',
  description: 'Kernel specs of this server plus one per ready remote kernel session.',
  autoStart: true,
  provides: IKernelSpecManager,
  requires: [IInterlink, IRemoteKernels],
  optional: [IServerSettings, IConnectionStatus],
  activate: (
    _: null,
    interlink: IInterlink,
    backends: RemoteBackends,
    serverSettings: ServerConnection.ISettings | undefined,
    connectionStatus: IConnectionStatus | undefined
  ): KernelSpec.IManager => {
    const local = new KernelSpecManager({ serverSettings, standby: standby(connectionStatus) });
    return new RoutingKernelSpecManager(local, backends, interlink);
  }
};

const kernelManager: ServiceManagerPlugin<Kernel.IManager> = {
  id: '@jupyterlab-interlink/extension:kernel-manager',
  description: 'Kernels of this server plus those of remote kernel sessions.',
  autoStart: true,
  provides: IKernelManager,
  requires: [IRemoteKernels],
  optional: [IServerSettings, IConnectionStatus],
  activate: (
    _: null,
    backends: RemoteBackends,
    serverSettings: ServerConnection.ISettings | undefined,
    connectionStatus: IConnectionStatus | undefined
  ): Kernel.IManager => {
    const local = new KernelManager({ serverSettings, standby: standby(connectionStatus) });
    return new RoutingKernelManager(local, backends);
  }
};

const sessionManager: ServiceManagerPlugin<Session.IManager> = {
  id: '@jupyterlab-interlink/extension:session-manager',
  description:
    'Sessions of this server plus those of remote kernel sessions; moves notebooks between them.',
  autoStart: true,
  provides: ISessionManager,
  requires: [IKernelManager, IRemoteKernels],
  optional: [IServerSettings, IConnectionStatus],
  activate: (
    _: null,
    kernels: Kernel.IManager,
    backends: RemoteBackends,
    serverSettings: ServerConnection.ISettings | undefined,
    connectionStatus: IConnectionStatus | undefined
  ): Session.IManager => {
    // The local session manager connects local kernels through the local kernel manager.
    const localKernels = kernels instanceof RoutingKernelManager ? kernels.local : kernels;
    const local = new SessionManager({
      kernelManager: localKernels,
      serverSettings,
      standby: standby(connectionStatus)
    });
    return new RoutingSessionManager(local, backends);
  }
};

export const servicePlugins = [
  client,
  remoteKernels,
  kernelSpecManager,
  kernelManager,
  sessionManager
];
