import { BaseManager, KernelSpec, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { placeLabel } from '../format';
import { remoteKernelNames } from '../kernelnames';
import { IInterlink } from '../model';
import { RemoteBackends } from '../remote';

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

  /** The specs of ready remote kernels, each named for where it runs. */
  private _remoteSpecs(): Record<string, KernelSpec.ISpecModel> {
    const ready = this.backends.all().filter(backend => backend.spec);
    const names = remoteKernelNames(
      ready.map(backend => {
        const session = this.interlink.session(backend.sessionId);
        const at = session ?? { site: '?', profile: '?' };
        return {
          sessionId: backend.sessionId,
          specName: backend.spec!.display_name,
          place: placeLabel(this.interlink.site(at.site), at),
          sessionName: session?.name
        };
      })
    );
    const specs: Record<string, KernelSpec.ISpecModel> = {};
    for (const backend of ready) {
      const display_name = names.get(backend.sessionId)!;
      specs[backend.kernelName] = { ...backend.spec!, display_name };
      backend.displayName = display_name;
    }
    return specs;
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
