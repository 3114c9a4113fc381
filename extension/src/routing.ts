/**
 * Kernel spec, kernel and session managers that put remote kernels beside local ones.
 *
 * A kernel name `interlink-<sessionId>` routes to that session's `RemoteBackend`; every other name
 * stays local. Sessions are wrapped so that `changeKernel` can move a notebook from one backend to
 * another: the session on the old backend is shut down and one for the same path starts on the new
 * backend, while the SessionContext keeps a single session object and sees an ordinary kernel change.
 */
import {
  BaseManager,
  Kernel,
  KernelMessage,
  KernelSpec,
  ServerConnection,
  Session
} from '@jupyterlab/services';
import { IChangedArgs } from '@jupyterlab/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { IInterlink } from './model';
import { deadView, markDead, RemoteBackend, RemoteBackends, sessionIdOf } from './remote';

function remoteUnavailable(name: string): Error {
  return new Error(
    `The remote kernel "${name}" is not available: its session is not ready or has ended. ` +
      'Start it again from the Remote sites panel.'
  );
}

/** Local kernel specs plus one spec per ready remote kernel session. */
export class RoutingKernelSpecManager extends BaseManager implements KernelSpec.IManager {
  constructor(
    readonly local: KernelSpec.IManager,
    readonly backends: RemoteBackends,
    readonly interlink: IInterlink
  ) {
    super({ serverSettings: local.serverSettings });
    local.specsChanged.connect(this._update, this);
    local.connectionFailure.connect((_, err) => this._connectionFailure.emit(err), this);
    backends.changed.connect(this._update, this);
    interlink.changed.connect(this._update, this);
    this._ready = Promise.all([local.ready, backends.ready]).then(() => {
      this._isReady = true;
      this._update();
    });
  }

  get isReady(): boolean {
    return this._isReady;
  }
  get ready(): Promise<void> {
    return this._ready;
  }
  get connectionFailure(): ISignal<this, ServerConnection.NetworkError> {
    return this._connectionFailure;
  }
  get specsChanged(): ISignal<this, KernelSpec.ISpecModels> {
    return this._specsChanged;
  }
  get specs(): KernelSpec.ISpecModels | null {
    return this._specs;
  }

  async refreshSpecs(): Promise<void> {
    await this.local.refreshSpecs();
    this._update();
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    super.dispose();
  }

  /** "Python 3 — Leonardo · 1×A100", with the session's name or id when two would read the same. */
  private _remoteSpecs(): Record<string, KernelSpec.ISpecModel> {
    const out: Record<string, KernelSpec.ISpecModel> = {};
    const labels = new Map<string, number>();
    const entries = this.backends
      .all()
      .filter(b => b.spec)
      .map(b => {
        const session = this.interlink.session(b.sessionId);
        const site = session ? this.interlink.site(session.site) : undefined;
        const profile = site?.profiles.find(p => p.id === session?.profile);
        const where = `${site?.displayName ?? session?.site ?? '?'} · ${profile?.displayName ?? session?.profile ?? '?'}`;
        const label = `${b.spec!.display_name} — ${where}`;
        labels.set(label, (labels.get(label) ?? 0) + 1);
        return { b, label, session };
      });
    for (const { b, label, session } of entries) {
      const display_name =
        (labels.get(label) ?? 0) > 1
          ? `${label} (${session?.name || b.sessionId.slice(0, 8)})`
          : label;
      out[b.kernelName] = { ...b.spec!, display_name };
      b.displayName = display_name;
    }
    return out;
  }

  private _update(): void {
    const local = this.local.specs;
    if (!local && !this.backends.all().length) {
      return;
    }
    const next: KernelSpec.ISpecModels = {
      default: local?.default ?? '',
      kernelspecs: { ...(local?.kernelspecs ?? {}), ...this._remoteSpecs() }
    };
    if (JSON.stringify(next) === JSON.stringify(this._specs)) {
      return;
    }
    this._specs = next;
    this._specsChanged.emit(next);
  }

  private _specs: KernelSpec.ISpecModels | null = null;
  private _isReady = false;
  private _ready: Promise<void>;
  private _connectionFailure = new Signal<this, ServerConnection.NetworkError>(this);
  private _specsChanged = new Signal<this, KernelSpec.ISpecModels>(this);
}

/** Local kernels plus the kernels of each ready remote session. */
export class RoutingKernelManager extends BaseManager implements Kernel.IManager {
  constructor(
    readonly local: Kernel.IManager,
    readonly backends: RemoteBackends
  ) {
    super({ serverSettings: local.serverSettings });
    local.runningChanged.connect(this._emitRunning, this);
    local.connectionFailure.connect((_, err) => this._connectionFailure.emit(err), this);
    backends.changed.connect(this._onBackends, this);
    this._onBackends();
  }

  get isReady(): boolean {
    return this.local.isReady;
  }
  get ready(): Promise<void> {
    return this.local.ready;
  }
  get runningChanged(): ISignal<this, Kernel.IModel[]> {
    return this._runningChanged;
  }
  get connectionFailure(): ISignal<this, ServerConnection.NetworkError> {
    return this._connectionFailure;
  }
  get runningCount(): number {
    return [...this.running()].length;
  }
  get commsOverSubshells(): Kernel.IManager['commsOverSubshells'] {
    return this.local.commsOverSubshells;
  }
  set commsOverSubshells(value: Kernel.IManager['commsOverSubshells']) {
    this.local.commsOverSubshells = value;
    for (const b of this.backends.all()) {
      b.kernels.commsOverSubshells = value!;
    }
  }

  *running(): IterableIterator<Kernel.IModel> {
    yield* this.local.running();
    for (const b of this.backends.all()) {
      yield* b.kernels.running();
    }
  }

  async refreshRunning(): Promise<void> {
    await Promise.all([
      this.local.refreshRunning(),
      Promise.allSettled(this.backends.all().map(b => b.kernels.refreshRunning()))
    ]);
  }

  async startNew(
    createOptions: Kernel.IKernelOptions = {},
    connectOptions: Omit<Kernel.IKernelConnection.IOptions, 'model' | 'serverSettings'> = {}
  ): Promise<Kernel.IKernelConnection> {
    return this._managerFor(createOptions.name).startNew(createOptions, connectOptions);
  }

  connectTo(options: Kernel.IKernelConnection.IOptions): Kernel.IKernelConnection {
    return this._managerFor(options.model.name).connectTo(options);
  }

  async findById(id: string): Promise<Kernel.IModel | undefined> {
    for (const m of this.running()) {
      if (m.id === id) {
        return m;
      }
    }
    return this.local.findById(id);
  }

  async shutdown(id: string): Promise<void> {
    const owner = this.backends.all().find(b => [...b.kernels.running()].some(m => m.id === id));
    return (owner ? owner.kernels : this.local).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await Promise.all([
      this.local.shutdownAll(),
      ...this.backends.all().map(b => b.kernels.shutdownAll())
    ]);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    super.dispose();
  }

  private _managerFor(name: string | undefined): Kernel.IManager {
    if (!sessionIdOf(name)) {
      return this.local;
    }
    const backend = this.backends.forKernel(name);
    if (!backend) {
      throw remoteUnavailable(name!);
    }
    return backend.kernels;
  }

  private _onBackends(): void {
    for (const b of this.backends.all()) {
      if (!this._watched.has(b)) {
        this._watched.add(b);
        b.kernels.runningChanged.connect(this._emitRunning, this);
      }
    }
    for (const b of [...this._watched]) {
      if (b.ended) {
        this._watched.delete(b);
      }
    }
    this._emitRunning();
  }

  private _emitRunning(): void {
    this._runningChanged.emit([...this.running()]);
  }

  private _watched = new Set<RemoteBackend>();
  private _runningChanged = new Signal<this, Kernel.IModel[]>(this);
  private _connectionFailure = new Signal<this, ServerConnection.NetworkError>(this);
}

type ConnectOptions = Omit<
  Session.ISessionConnection.IOptions,
  'model' | 'connectToKernel' | 'serverSettings'
>;

/** Local sessions plus the sessions on each ready remote server. */
export class RoutingSessionManager extends BaseManager implements Session.IManager {
  constructor(
    readonly local: Session.IManager,
    readonly backends: RemoteBackends
  ) {
    super({ serverSettings: local.serverSettings! });
    local.runningChanged.connect(this._emitRunning, this);
    local.connectionFailure.connect((_, err) => this._connectionFailure.emit(err), this);
    backends.changed.connect(this._onBackends, this);
    this._onBackends();
    this._ready = Promise.all([local.ready, backends.ready]).then(() => {
      this._isReady = true;
    });
  }

  get isReady(): boolean {
    return this._isReady;
  }
  get ready(): Promise<void> {
    return this._ready;
  }
  get runningChanged(): ISignal<this, Session.IModel[]> {
    return this._runningChanged;
  }
  get connectionFailure(): ISignal<this, ServerConnection.NetworkError> {
    return this._connectionFailure;
  }

  *running(): IterableIterator<Session.IModel> {
    yield* this.local.running();
    for (const b of this.backends.all()) {
      yield* b.sessions.running();
    }
  }

  async refreshRunning(): Promise<void> {
    // A remote server that does not answer must not keep notebooks from opening.
    await Promise.all([
      this.local.refreshRunning(),
      Promise.allSettled(this.backends.all().map(b => b.sessions.refreshRunning()))
    ]);
  }

  async startNew(
    createOptions: Session.ISessionOptions,
    connectOptions: ConnectOptions = {}
  ): Promise<Session.ISessionConnection> {
    const backend = this._backendFor(createOptions.kernel?.name);
    const inner = await (backend ? backend.sessions : this.local).startNew(
      createOptions,
      connectOptions
    );
    return new RoutedSessionConnection(this, inner, backend ?? null, connectOptions);
  }

  connectTo(
    options: Omit<Session.ISessionConnection.IOptions, 'connectToKernel' | 'serverSettings'>
  ): Session.ISessionConnection {
    const backend = this._backendFor(options.model.kernel?.name) ?? this._ownerOf(options.model.id);
    const inner = (backend ? backend.sessions : this.local).connectTo(options);
    const { model: _model, ...connectOptions } = options;
    return new RoutedSessionConnection(this, inner, backend ?? null, connectOptions);
  }

  async findById(id: string): Promise<Session.IModel | undefined> {
    for (const m of this.running()) {
      if (m.id === id) {
        return m;
      }
    }
    return this.local.findById(id);
  }

  async findByPath(path: string): Promise<Session.IModel | undefined> {
    for (const m of this.running()) {
      if (m.path === path) {
        return m;
      }
    }
    return this.local.findByPath(path);
  }

  async shutdown(id: string): Promise<void> {
    const owner = this._ownerOf(id);
    return (owner ? owner.sessions : this.local).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await Promise.all([
      this.local.shutdownAll(),
      ...this.backends.all().map(b => b.sessions.shutdownAll())
    ]);
  }

  async stopIfNeeded(path: string): Promise<void> {
    await Promise.all([
      this.local.stopIfNeeded(path),
      ...this.backends.all().map(b => b.sessions.stopIfNeeded(path))
    ]);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    super.dispose();
  }

  /** The backend of a kernel name; throws for a remote name whose session is gone. */
  _backendFor(name: string | undefined): RemoteBackend | undefined {
    if (!sessionIdOf(name)) {
      return undefined;
    }
    const backend = this.backends.forKernel(name);
    if (!backend) {
      throw remoteUnavailable(name!);
    }
    return backend;
  }

  private _ownerOf(sessionId: string): RemoteBackend | undefined {
    return this.backends.all().find(b => [...b.sessions.running()].some(m => m.id === sessionId));
  }

  private _onBackends(): void {
    for (const b of this.backends.all()) {
      if (!this._watched.has(b)) {
        this._watched.add(b);
        b.sessions.runningChanged.connect(this._emitRunning, this);
      }
    }
    for (const b of [...this._watched]) {
      if (b.ended) {
        this._watched.delete(b);
      }
    }
    this._emitRunning();
  }

  private _emitRunning(): void {
    this._runningChanged.emit([...this.running()]);
  }

  private _isReady = false;
  private _ready: Promise<void>;
  private _watched = new Set<RemoteBackend>();
  private _runningChanged = new Signal<this, Session.IModel[]>(this);
  private _connectionFailure = new Signal<this, ServerConnection.NetworkError>(this);
}

type KernelChangedArgs = IChangedArgs<
  Kernel.IKernelConnection | null,
  Kernel.IKernelConnection | null,
  'kernel'
>;

/**
 * One session object for the SessionContext, whichever backend its kernel lives on.
 * It forwards the current inner session's signals and swaps the inner session on a cross-backend
 * kernel change. When the remote session ends, the kernel shows dead and stays so until the user
 * picks another kernel.
 */
export class RoutedSessionConnection implements Session.ISessionConnection {
  constructor(
    private readonly _router: RoutingSessionManager,
    inner: Session.ISessionConnection,
    backend: RemoteBackend | null,
    private readonly _connectOptions: ConnectOptions
  ) {
    this._attach(inner, backend);
  }

  get propertyChanged(): ISignal<this, 'path' | 'name' | 'type'> {
    return this._propertyChanged;
  }
  get kernelChanged(): ISignal<this, KernelChangedArgs> {
    return this._kernelChanged;
  }
  get statusChanged(): ISignal<this, Kernel.Status> {
    return this._statusChanged;
  }
  get connectionStatusChanged(): ISignal<this, Kernel.ConnectionStatus> {
    return this._connectionStatusChanged;
  }
  get pendingInput(): ISignal<this, boolean> {
    return this._pendingInput;
  }
  get iopubMessage(): ISignal<this, KernelMessage.IIOPubMessage> {
    return this._iopubMessage;
  }
  get unhandledMessage(): ISignal<this, KernelMessage.IMessage> {
    return this._unhandledMessage;
  }
  get anyMessage(): ISignal<this, Kernel.IAnyMessageArgs> {
    return this._anyMessage;
  }
  get disposed(): ISignal<this, void> {
    return this._disposed;
  }
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
    this._propertyChanged.emit('path');
  }
  async setName(name: string): Promise<void> {
    if (this._inner) {
      return this._inner.setName(name);
    }
    this._last.name = name;
    this._propertyChanged.emit('name');
  }
  async setType(type: string): Promise<void> {
    if (this._inner) {
      return this._inner.setType(type);
    }
    this._last.type = type;
    this._propertyChanged.emit('type');
  }

  async changeKernel(options: Partial<Kernel.IModel>): Promise<Kernel.IKernelConnection | null> {
    if (this._isDisposed) {
      throw new Error('Session is disposed');
    }
    const target = options.name ? (this._router._backendFor(options.name) ?? null) : this._backend;
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
    this._kernelChanged.emit({ name: 'kernel', oldValue: oldKernel, newValue: next.kernel });
    this._statusChanged.emit(next.kernel?.status ?? 'unknown');
    this._connectionStatusChanged.emit(next.kernel?.connectionStatus ?? 'connecting');
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
    this._disposed.emit();
    Signal.clearData(this);
  }

  private _attach(inner: Session.ISessionConnection, backend: RemoteBackend | null): void {
    this._inner = inner;
    this._backend = backend;
    this._deadKernel = null;
    inner.propertyChanged.connect(this._onProperty, this);
    inner.kernelChanged.connect(this._onKernelChanged, this);
    inner.statusChanged.connect(this._onStatus, this);
    inner.connectionStatusChanged.connect(this._onConnectionStatus, this);
    inner.pendingInput.connect(this._onPendingInput, this);
    inner.iopubMessage.connect(this._onIopub, this);
    inner.unhandledMessage.connect(this._onUnhandled, this);
    inner.anyMessage.connect(this._onAny, this);
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
      this._statusChanged.emit('dead');
    }
  }

  private _onInnerDisposed(): void {
    // The backend's manager dropped the session (it vanished on the server).
    this.dispose();
  }
  private _onProperty(_: unknown, property: 'path' | 'name' | 'type'): void {
    this._propertyChanged.emit(property);
  }
  private _onKernelChanged(_: unknown, args: KernelChangedArgs): void {
    this._kernelChanged.emit(args);
  }
  private _onStatus(_: unknown, status: Kernel.Status): void {
    this._statusChanged.emit(status);
  }
  private _onConnectionStatus(_: unknown, status: Kernel.ConnectionStatus): void {
    this._connectionStatusChanged.emit(status);
  }
  private _onPendingInput(_: unknown, value: boolean): void {
    this._pendingInput.emit(value);
  }
  private _onIopub(_: unknown, msg: KernelMessage.IIOPubMessage): void {
    this._iopubMessage.emit(msg);
  }
  private _onUnhandled(_: unknown, msg: KernelMessage.IMessage): void {
    this._unhandledMessage.emit(msg);
  }
  private _onAny(_: unknown, args: Kernel.IAnyMessageArgs): void {
    this._anyMessage.emit(args);
  }

  private _inner: Session.ISessionConnection | null = null;
  private _backend: RemoteBackend | null = null;
  private _deadKernel: Kernel.IKernelConnection | null = null;
  private _last = { id: '', path: '', name: '', type: '' };
  private _isDisposed = false;
  private _propertyChanged = new Signal<this, 'path' | 'name' | 'type'>(this);
  private _kernelChanged = new Signal<this, KernelChangedArgs>(this);
  private _statusChanged = new Signal<this, Kernel.Status>(this);
  private _connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(this);
  private _pendingInput = new Signal<this, boolean>(this);
  private _iopubMessage = new Signal<this, KernelMessage.IIOPubMessage>(this);
  private _unhandledMessage = new Signal<this, KernelMessage.IMessage>(this);
  private _anyMessage = new Signal<this, Kernel.IAnyMessageArgs>(this);
  private _disposed = new Signal<this, void>(this);
}
