import type { Session as RemoteSession } from '@jupyterlab-interlink/contract';
import {
  Kernel,
  KernelAPI,
  KernelManager,
  KernelSpec,
  KernelSpecAPI,
  ServerConnection,
  Session,
  SessionAPI,
  SessionManager
} from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { kernelNameFor, sessionIdOf } from './kernelnames';
import { IInterlink } from './model';

/** Shows a kernel connection as dead (and closes it) without asking a server that is gone. */
export function markDead(kernel: Kernel.IKernelConnection | null | undefined): void {
  if (kernel && !kernel.isDisposed && kernel.status !== 'dead') {
    const connection = kernel as Kernel.IKernelConnection & { handleShutdown?: () => void };
    if (connection.handleShutdown) {
      connection.handleShutdown();
    } else {
      kernel.dispose();
    }
  }
}

/**
 * How a kernel of an ended session looks from then on. SessionContext shows the connection status
 * of a kernel that is not connected ("disconnected"), and the spec is gone from the picker; users
 * must read "dead" and still see which kernel it was.
 */
export function deadView(
  kernel: Kernel.IKernelConnection,
  displayName: string
): Kernel.IKernelConnection {
  return new Proxy(kernel, {
    get(target, property, receiver) {
      if (property === 'connectionStatus') {
        return 'connected';
      }
      if (property === 'status') {
        return 'dead';
      }
      if (property === 'name') {
        return displayName;
      }
      return Reflect.get(target, property, receiver);
    }
  });
}

/**
 * One ready kernel session: stock JupyterLab managers pointed at the remote Jupyter server through
 * the tunnel, with API clients that translate the remote kernel name (`python3`) to this
 * session's name (`interlink-<id>`) both ways, so the rest of JupyterLab sees one kernel name per
 * remote session and can tell it from local kernels.
 */
export class RemoteBackend {
  constructor(
    readonly interlink: IInterlink,
    session: RemoteSession
  ) {
    this.sessionId = session.id;
    this.kernelName = kernelNameFor(session.id);
    this.serverSettings = interlink.api.remoteSettings(session);
    const serverSettings = this.serverSettings;
    const specClient = new KernelSpecAPI.KernelSpecAPIClient({ serverSettings });
    this._specClient = specClient;

    const kernelName = this.kernelName;
    const toLocal = <T extends { name: string }>(m: T): T => ({ ...m, name: kernelName });
    const kernelClient = new KernelAPI.KernelAPIClient({ serverSettings });
    const kernelAPIClient: Kernel.IKernelAPIClient = {
      serverSettings,
      listRunning: async () => (await kernelClient.listRunning()).map(toLocal),
      getModel: async id => {
        const model = await kernelClient.getModel(id);
        return model && toLocal(model);
      },
      startNew: async () => toLocal(await kernelClient.startNew({ name: this.remoteSpecName })),
      restart: id => kernelClient.restart(id),
      interrupt: id => kernelClient.interrupt(id),
      shutdown: id => kernelClient.shutdown(id)
    };
    const kernelSpecAPIClient: KernelSpec.IKernelSpecAPIClient = {
      serverSettings,
      get: async () => {
        await this.specReady;
        return { default: kernelName, kernelspecs: this.spec ? { [kernelName]: this.spec } : {} };
      }
    };
    const sessionClient = new SessionAPI.SessionAPIClient({ serverSettings });
    const toLocalSession = (m: Session.IModel): Session.IModel =>
      m.kernel ? { ...m, kernel: toLocal(m.kernel) } : m;
    const sessionAPIClient: Session.ISessionAPIClient = {
      serverSettings,
      listRunning: async () => (await sessionClient.listRunning()).map(toLocalSession),
      getModel: async id => toLocalSession(await sessionClient.getModel(id)),
      startNew: async options =>
        toLocalSession(
          await sessionClient.startNew({ ...options, kernel: { name: this.remoteSpecName } })
        ),
      shutdown: id => sessionClient.shutdown(id),
      update: async model => {
        const patch = model.kernel?.name
          ? { ...model, kernel: { ...model.kernel, name: this.remoteSpecName } }
          : model;
        return toLocalSession(await sessionClient.update(patch));
      }
    };
    this.kernels = new KernelManager({ serverSettings, kernelAPIClient, kernelSpecAPIClient });
    this.sessions = new SessionManager({
      serverSettings,
      kernelManager: this.kernels,
      sessionAPIClient
    });
    this.specReady = this._loadSpec();
  }

  readonly sessionId: string;
  readonly kernelName: string;
  readonly serverSettings: ServerConnection.ISettings;
  readonly kernels: KernelManager;
  readonly sessions: SessionManager;
  /** The remote default kernel spec, renamed to `kernelName`. */
  spec: KernelSpec.ISpecModel | null = null;
  remoteSpecName = 'python3';
  /** The name the kernel picker shows, set by the kernel spec manager. */
  displayName = '';
  readonly specReady: Promise<void>;

  get ended(): boolean {
    return this._ended;
  }

  /** The remote server answers through the tunnel a moment after `ready`: retry for a while. */
  private async _loadSpec(): Promise<void> {
    for (let attempt = 0; attempt < 20 && !this._ended; attempt++) {
      try {
        const specs = await this._specClient.get();
        const name =
          specs.default && specs.kernelspecs[specs.default]
            ? specs.default
            : Object.keys(specs.kernelspecs)[0];
        const spec = name ? specs.kernelspecs[name] : undefined;
        if (spec) {
          this.remoteSpecName = name;
          this.spec = {
            ...spec,
            name: this.kernelName,
            metadata: {
              ...(spec.metadata ?? {}),
              interlink: { sessionId: this.sessionId, remoteName: name }
            }
          };
          return;
        }
      } catch {
        // tunnel not up yet
      }
      await new Promise(resolve => setTimeout(resolve, Math.min(500 * (attempt + 1), 3000)));
    }
  }

  /**
   * The session ended: every kernel connection to it shows dead, and polling stops.
   * Connections are marked dead rather than disposed so notebooks keep showing the dead kernel.
   */
  end(): void {
    if (this._ended) {
      return;
    }
    this._ended = true;
    this._ending.emit();
    // Any other connection to its kernels (consoles, the running panel) shows dead as well.
    const connections = (
      this.kernels as unknown as { _kernelConnections?: Set<Kernel.IKernelConnection> }
    )._kernelConnections;
    for (const connection of [...(connections ?? [])]) {
      markDead(connection);
    }
    this.kernels.dispose();
    this.sessions.dispose();
  }

  /** Emitted just before the managers are disposed, so session wrappers can detach. */
  get ending(): ISignal<this, void> {
    return this._ending;
  }

  private _specClient: KernelSpecAPI.KernelSpecAPIClient;
  private _ended = false;
  private _ending = new Signal<this, void>(this);
}

/** The remote backends of the caller's ready kernel sessions, following the event stream. */
export class RemoteBackends {
  constructor(readonly interlink: IInterlink) {
    interlink.sessionChanged.connect((_, { session }) => this._sync(session), this);
    interlink.sessionRemoved.connect((_, session) => this._end(session.id), this);
    for (const session of interlink.sessions) {
      this._sync(session);
    }
    // A notebook restoring a remote kernel needs its backend known before it looks.
    this.ready = interlink.ready.then(() =>
      Promise.race([
        Promise.all([...this._backends.values()].map(backend => backend.specReady)).then(
          () => undefined
        ),
        new Promise<void>(resolve => setTimeout(resolve, 5000))
      ])
    );
  }

  readonly ready: Promise<void>;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get(sessionId: string | null): RemoteBackend | undefined {
    return sessionId ? this._backends.get(sessionId) : undefined;
  }

  forKernel(kernelName: string | undefined | null): RemoteBackend | undefined {
    return this.get(sessionIdOf(kernelName));
  }

  all(): RemoteBackend[] {
    return [...this._backends.values()];
  }

  private _sync(session: RemoteSession): void {
    if (session.type !== 'kernel') {
      return;
    }
    if (session.state === 'ready') {
      if (!this._backends.has(session.id)) {
        const backend = new RemoteBackend(this.interlink, session);
        this._backends.set(session.id, backend);
        void backend.specReady.then(() => this._changed.emit());
      }
    } else if (this._backends.has(session.id)) {
      this._end(session.id);
    }
  }

  private _end(sessionId: string): void {
    const backend = this._backends.get(sessionId);
    if (backend) {
      this._backends.delete(sessionId);
      backend.end();
      this._changed.emit();
    }
  }

  private _backends = new Map<string, RemoteBackend>();
  private _changed = new Signal<this, void>(this);
}
