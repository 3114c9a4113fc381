/**
 * What the routing managers share. They put remote kernels beside local ones: a kernel name
 * `interlink-<sessionId>` routes to that session's `RemoteBackend`, every other name stays local;
 * sessions are wrapped (connection.ts) so `changeKernel` can move a notebook between backends.
 */
import type { ISignal } from '@lumino/signaling';
import { sessionIdOf } from '../kernelnames';
import type { RemoteBackend, RemoteBackends } from '../remote';

/**
 * The backend of a kernel name: undefined for a local kernel; throws for a remote name whose
 * session is not ready or has ended.
 */
export function backendOf(
  backends: RemoteBackends,
  kernelName: string | undefined
): RemoteBackend | undefined {
  if (!sessionIdOf(kernelName)) {
    return undefined;
  }
  const backend = backends.forKernel(kernelName);
  if (!backend) {
    throw new Error(
      `The remote kernel "${kernelName}" is not available: its session is not ready or has ended. ` +
        'Start it again from the Remote sites panel.'
    );
  }
  return backend;
}

/**
 * Calls `changed` when the local list of running models changes, when backends come or go, and
 * when one's list changes. `owner` receives the connections, so `Signal.disconnectReceiver(owner)`
 * ends them all.
 */
export function followRunning<M extends { runningChanged: ISignal<unknown, unknown> }>(
  owner: { readonly local: M; readonly backends: RemoteBackends },
  managerOf: (backend: RemoteBackend) => M,
  changed: () => void
): void {
  const { local, backends } = owner;
  const followed = new Set<RemoteBackend>();
  const sync = () => {
    for (const backend of backends.all()) {
      if (!followed.has(backend)) {
        followed.add(backend);
        managerOf(backend).runningChanged.connect(changed, owner);
      }
    }
    for (const backend of [...followed]) {
      if (backend.ended) {
        followed.delete(backend);
      }
    }
    changed();
  };
  local.runningChanged.connect(changed, owner);
  backends.changed.connect(sync, owner);
  sync();
}

/** The first model `matches` accepts. */
export function findModel<T>(models: Iterable<T>, matches: (model: T) => boolean): T | undefined {
  for (const model of models) {
    if (matches(model)) {
      return model;
    }
  }
  return undefined;
}

type Lister<T> = { running(): IterableIterator<T>; refreshRunning(): Promise<void> };

/** A manager of one kind on this server and the same kind on each live backend. */
export class Managers<T, M extends Lister<T>> {
  constructor(
    readonly local: M,
    readonly remote: M[]
  ) {}

  /** Every running model, local ones first. */
  *running(): IterableIterator<T> {
    yield* this.local.running();
    for (const manager of this.remote) {
      yield* manager.running();
    }
  }

  /** Refreshes every list; a remote server that does not answer must not hold up the local one. */
  async refresh(): Promise<void> {
    await Promise.all([
      this.local.refreshRunning(),
      Promise.allSettled(this.remote.map(manager => manager.refreshRunning()))
    ]);
  }

  /** Runs `action` on every manager at once. */
  async each(action: (manager: M) => Promise<void>): Promise<void> {
    await Promise.all([action(this.local), ...this.remote.map(action)]);
  }
}
