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
 * Calls `changed` when backends come or go and whenever `signalOf` one of them fires; `owner`
 * receives the connections, so `Signal.disconnectReceiver(owner)` ends them all.
 */
export function followBackends(
  backends: RemoteBackends,
  signalOf: (backend: RemoteBackend) => ISignal<unknown, unknown>,
  changed: () => void,
  owner: object
): void {
  const followed = new Set<RemoteBackend>();
  const sync = () => {
    for (const backend of backends.all()) {
      if (!followed.has(backend)) {
        followed.add(backend);
        signalOf(backend).connect(changed, owner);
      }
    }
    for (const backend of [...followed]) {
      if (backend.ended) {
        followed.delete(backend);
      }
    }
    changed();
  };
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
