/**
 * Kernel names of remote kernels, `interlink-<sessionId>`, and the names the kernel picker shows
 * for them. Pure: the routing managers and the notifier decide with these.
 */

const KERNEL_PREFIX = 'interlink-';

export function kernelNameFor(sessionId: string): string {
  return KERNEL_PREFIX + sessionId;
}

/** The remote session a kernel name routes to, or null for a local kernel. */
export function sessionIdOf(kernelName: string | undefined | null): string | null {
  return kernelName && kernelName.startsWith(KERNEL_PREFIX)
    ? kernelName.slice(KERNEL_PREFIX.length)
    : null;
}

export interface IRemoteKernelName {
  sessionId: string;
  /** The remote kernel spec's own name, e.g. `Python 3 (ipykernel)`. */
  specName: string;
  /** Where it runs: "site · profile". */
  place: string;
  /** The label the user gave the session, if any. */
  sessionName?: string;
}

/**
 * "Python 3 — Leonardo · 1×A100" per remote kernel, with the session's name (or the start of its
 * id) added where two would read the same. Keys are session ids.
 */
export function remoteKernelNames(kernels: readonly IRemoteKernelName[]): Map<string, string> {
  const label = (kernel: IRemoteKernelName) => `${kernel.specName} — ${kernel.place}`;
  const counts = new Map<string, number>();
  for (const kernel of kernels) {
    counts.set(label(kernel), (counts.get(label(kernel)) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  for (const kernel of kernels) {
    const same = (counts.get(label(kernel)) ?? 0) > 1;
    const tag = kernel.sessionName || kernel.sessionId.slice(0, 8);
    names.set(kernel.sessionId, same ? `${label(kernel)} (${tag})` : label(kernel));
  }
  return names;
}
