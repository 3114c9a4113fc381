/** Errors a driver throws, with a code the proxy server can map to an HTTP status. */
export type DriverErrorCode = 'NotFound' | 'AlreadyExists' | 'Invalid' | 'Backend' | 'Unavailable';

export class DriverError extends Error {
  constructor(
    readonly code: DriverErrorCode,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}

/** The session id a pod of ours carries, or an Invalid error. */
export function sessionIdOf(pod: { metadata?: { labels?: Record<string, string> } }): string {
  const id = pod.metadata?.labels?.['interlink.jupyter.org/session'];
  if (!id) throw new DriverError('Invalid', 'pod has no interlink.jupyter.org/session label');
  return id;
}
