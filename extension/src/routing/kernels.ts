import { BaseManager, Kernel, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { RemoteBackends } from '../remote';
import { backendOf, findModel, followRunning, Managers } from './backends';

/** Local kernels plus the kernels of each ready remote session. */
export class RoutingKernelManager extends BaseManager implements Kernel.IManager {
  constructor(
    readonly local: Kernel.IManager,
    readonly backends: RemoteBackends
  ) {
    super({ serverSettings: local.serverSettings });
    local.connectionFailure.connect((_, err) => this._connectionFailure.emit(err), this);
    followRunning(
      this,
      backend => backend.kernels,
      () => this._emitRunning()
    );
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
    for (const backend of this.backends.all()) {
      backend.kernels.commsOverSubshells = value!;
    }
  }

  *running(): IterableIterator<Kernel.IModel> {
    yield* this._managers().running();
  }

  async refreshRunning(): Promise<void> {
    await this._managers().refresh();
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
    return findModel(this.running(), m => m.id === id) ?? this.local.findById(id);
  }

  async shutdown(id: string): Promise<void> {
    const owner = this.backends
      .all()
      .find(backend => findModel(backend.kernels.running(), m => m.id === id));
    return (owner ? owner.kernels : this.local).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await this._managers().each(manager => manager.shutdownAll());
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    super.dispose();
  }

  private _managers(): Managers<Kernel.IModel, Kernel.IManager> {
    return new Managers(
      this.local,
      this.backends.all().map(backend => backend.kernels)
    );
  }

  private _managerFor(name: string | undefined): Kernel.IManager {
    return backendOf(this.backends, name)?.kernels ?? this.local;
  }

  private _emitRunning(): void {
    this._runningChanged.emit([...this.running()]);
  }

  private _runningChanged = new Signal<this, Kernel.IModel[]>(this);
  private _connectionFailure = new Signal<this, ServerConnection.NetworkError>(this);
}
