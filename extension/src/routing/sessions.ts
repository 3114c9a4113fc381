import { BaseManager, ServerConnection, Session } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { RemoteBackend, RemoteBackends } from '../remote';
import { backendOf, findModel, followRunning, Managers } from './backends';
import { ConnectOptions, ISessionRouter, RoutedSessionConnection } from './connection';

/** Local sessions plus the sessions on each ready remote server. */
export class RoutingSessionManager extends BaseManager implements Session.IManager, ISessionRouter {
  constructor(
    readonly local: Session.IManager,
    readonly backends: RemoteBackends
  ) {
    super({ serverSettings: local.serverSettings! });
    local.connectionFailure.connect((_, err) => this._connectionFailure.emit(err), this);
    followRunning(
      this,
      backend => backend.sessions,
      () => this._emitRunning()
    );
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
    yield* this._managers().running();
  }

  async refreshRunning(): Promise<void> {
    // A remote server that does not answer must not keep notebooks from opening.
    await this._managers().refresh();
  }

  async startNew(
    createOptions: Session.ISessionOptions,
    connectOptions: ConnectOptions = {}
  ): Promise<Session.ISessionConnection> {
    const backend = this.backendFor(createOptions.kernel?.name);
    const inner = await (backend ? backend.sessions : this.local).startNew(
      createOptions,
      connectOptions
    );
    return new RoutedSessionConnection(this, inner, backend ?? null, connectOptions);
  }

  connectTo(
    options: Omit<Session.ISessionConnection.IOptions, 'connectToKernel' | 'serverSettings'>
  ): Session.ISessionConnection {
    const backend = this.backendFor(options.model.kernel?.name) ?? this._ownerOf(options.model.id);
    const inner = (backend ? backend.sessions : this.local).connectTo(options);
    const { model: _model, ...connectOptions } = options;
    return new RoutedSessionConnection(this, inner, backend ?? null, connectOptions);
  }

  async findById(id: string): Promise<Session.IModel | undefined> {
    return findModel(this.running(), m => m.id === id) ?? this.local.findById(id);
  }

  async findByPath(path: string): Promise<Session.IModel | undefined> {
    return findModel(this.running(), m => m.path === path) ?? this.local.findByPath(path);
  }

  async shutdown(id: string): Promise<void> {
    const owner = this._ownerOf(id);
    return (owner ? owner.sessions : this.local).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await this._managers().each(manager => manager.shutdownAll());
  }

  async stopIfNeeded(path: string): Promise<void> {
    await this._managers().each(manager => manager.stopIfNeeded(path));
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    super.dispose();
  }

  backendFor(kernelName: string | undefined): RemoteBackend | undefined {
    return backendOf(this.backends, kernelName);
  }

  private _managers(): Managers<Session.IModel, Session.IManager> {
    return new Managers(
      this.local,
      this.backends.all().map(backend => backend.sessions)
    );
  }

  private _ownerOf(sessionId: string): RemoteBackend | undefined {
    return this.backends
      .all()
      .find(backend => findModel(backend.sessions.running(), m => m.id === sessionId));
  }

  private _emitRunning(): void {
    this._runningChanged.emit([...this.running()]);
  }

  private _isReady = false;
  private _ready: Promise<void>;
  private _runningChanged = new Signal<this, Session.IModel[]>(this);
  private _connectionFailure = new Signal<this, ServerConnection.NetworkError>(this);
}
