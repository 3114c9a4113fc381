import { IChangedArgs } from '@jupyterlab/coreutils';
import { Kernel, KernelMessage, ServerConnection, Session } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { deadView, markDead, RemoteBackend } from '../remote';

export type ConnectOptions = Omit<
  Session.ISessionConnection.IOptions,
  'model' | 'connectToKernel' | 'serverSettings'
>;

/** What a routed session asks of its manager: where a kernel name lives, and the local side. */
export interface ISessionRouter {
  readonly local: Session.IManager;
  readonly serverSettings: ServerConnection.ISettings;
  /** The backend of a kernel name; undefined when local; throws for a remote one that is gone. */
  backendFor(kernelName: string | undefined): RemoteBackend | undefined;
}

type KernelChangedArgs = IChangedArgs<
  Kernel.IKernelConnection | null,
  Kernel.IKernelConnection | null,
  'kernel'
>;

/** The inner session's signals a routed session re-emits as its own. */
const FORWARDED = [
  'propertyChanged',
  'kernelChanged',
  'statusChanged',
  'connectionStatusChanged',
  'pendingInput',
  'iopubMessage',
  'unhandledMessage',
  'anyMessage'
] as const;

/**
 * One session object for the SessionContext, whichever backend its kernel lives on.
 * It forwards the current inner session's signals and swaps the inner session on a cross-backend
 * kernel change. When the remote session ends, the kernel shows dead and stays so until the user
 * picks another kernel.
 */
export class RoutedSessionConnection implements Session.ISessionConnection {
  constructor(
    private readonly _router: ISessionRouter,
    inner: Session.ISessionConnection,
    backend: RemoteBackend | null,
    private readonly _connectOptions: ConnectOptions
  ) {
    this._attach(inner, backend);
  }

  // Signals as fields: the interface hands them out as ISignal.
  readonly propertyChanged = new Signal<this, 'path' | 'name' | 'type'>(this);
  readonly kernelChanged = new Signal<this, KernelChangedArgs>(this);
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  readonly connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(this);
  readonly pendingInput = new Signal<this, boolean>(this);
  readonly iopubMessage = new Signal<this, KernelMessage.IIOPubMessage>(this);
  readonly unhandledMessage = new Signal<this, KernelMessage.IMessage>(this);
  readonly anyMessage = new Signal<this, Kernel.IAnyMessageArgs>(this);
  readonly disposed = new Signal<this, void>(this);

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get id(): string {
    return this._inner?.id ?? this._last.id;
  }
  get path(): string {
    return this._inner?.path ?? this._last.path;
  }
  get name(): string {
    return this._inner?.name ?? this._last.name;
  }
  get type(): string {
    return this._inner?.type ?? this._last.type;
  }
  get serverSettings(): ServerConnection.ISettings {
    return this._inner?.serverSettings ?? this._router.serverSettings;
  }
  get kernel(): Kernel.IKernelConnection | null {
    return this._inner ? this._inner.kernel : this._deadKernel;
  }
  get model(): Session.IModel {
    const kernel = this.kernel;
    return {
      id: this.id,
      name: this.name,
      path: this.path,
      type: this.type,
      kernel: kernel ? { id: kernel.id, name: kernel.name } : null
    };
  }
  /** The remote session this kernel runs in, or null for a local kernel. */
  get remoteSessionId(): string | null {
    return this._backend?.sessionId ?? null;
  }

  async setPath(path: string): Promise<void> {
    if (this._inner) {
      return this._inner.setPath(path);
    }
    this._last.path = path;
    this.propertyChanged.emit('path');
  }
  async setName(name: string): Promise<void> {
    if (this._inner) {
      return this._inner.setName(name);
    }
    this._last.name = name;
    this.propertyChanged.emit('name');
  }
  async setType(type: string): Promise<void> {
    if (this._inner) {
      return this._inner.setType(type);
    }
    this._last.type = type;
    this.propertyChanged.emit('type');
  }

  async changeKernel(options: Partial<Kernel.IModel>): Promise<Kernel.IKernelConnection | null> {
    if (this._isDisposed) {
      throw new Error('Session is disposed');
    }
    const target = options.name ? (this._router.backendFor(options.name) ?? null) : this._backend;
    if (this._inner && target === this._backend) {
      await this._inner.changeKernel(options);
      return this.kernel;
    }
    // Across backends: start beside the old session first, so a failed start leaves it as it was.
    const manager = target ? target.sessions : this._router.local;
    const next = await manager.startNew(
      { path: this.path, type: this.type, name: this.name, kernel: { name: options.name } },
      this._connectOptions
    );
    if (this._isDisposed) {
      await next.shutdown().catch(() => next.dispose());
      throw new Error('Session is disposed');
    }
    const old = this._inner;
    const oldBackend = this._backend;
    const oldKernel = this.kernel;
    this._detach();
    this._attach(next, target);
    this.kernelChanged.emit({ name: 'kernel', oldValue: oldKernel, newValue: next.kernel });
    this.statusChanged.emit(next.kernel?.status ?? 'unknown');
    this.connectionStatusChanged.emit(next.kernel?.connectionStatus ?? 'connecting');
    if (old) {
      if (oldBackend?.ended) {
        old.dispose();
      } else {
        await old.shutdown().catch(() => old.dispose());
      }
    }
    return this.kernel;
  }

  async shutdown(): Promise<void> {
    if (this._inner && !this._backend?.ended) {
      await this._inner.shutdown();
    }
    this.dispose();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    const inner = this._inner;
    this._detach();
    inner?.dispose();
    this.disposed.emit();
    Signal.clearData(this);
  }

  private _attach(inner: Session.ISessionConnection, backend: RemoteBackend | null): void {
    this._inner = inner;
    this._backend = backend;
    this._deadKernel = null;
    for (const name of FORWARDED) {
      const mine = this[name] as Signal<this, unknown>;
      (inner[name] as ISignal<unknown, unknown>).connect((_, args) => mine.emit(args), this);
    }
    inner.disposed.connect(this._onInnerDisposed, this);
    backend?.ending.connect(this._onBackendEnding, this);
  }

  private _detach(): void {
    const inner = this._inner;
    if (inner) {
      this._last = { id: inner.id, path: inner.path, name: inner.name, type: inner.type };
      Signal.disconnectBetween(inner, this);
    }
    if (this._backend) {
      Signal.disconnectBetween(this._backend, this);
    }
    this._inner = null;
  }

  /** The remote session ended under us: show the kernel dead, keep the session object. */
  private _onBackendEnding(): void {
    const kernel = this._inner?.kernel ?? null;
    const backend = this._backend;
    markDead(kernel);
    this._detach();
    if (kernel) {
      const label = backend?.displayName || kernel.name;
      this._deadKernel = deadView(kernel, `${label} (ended)`);
      this.statusChanged.emit('dead');
    }
  }

  private _onInnerDisposed(): void {
    // The backend's manager dropped the session (it vanished on the server).
    this.dispose();
  }

  private _inner: Session.ISessionConnection | null = null;
  private _backend: RemoteBackend | null = null;
  private _deadKernel: Kernel.IKernelConnection | null = null;
  private _last = { id: '', path: '', name: '', type: '' };
  private _isDisposed = false;
}
