/** Prometheus metrics of the proxy server (prom-client); the tunnel registers its own on the same registry. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { SESSION_STATES } from '@jupyterlab-interlink/contract';

export interface ServerMetrics {
  registry: Registry;
  sessions: Gauge<'site' | 'state'>;
  launches: Counter<'site' | 'outcome'>;
  requests: Counter<'route' | 'status'>;
  refused: Counter<'route' | 'why'>;
}

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'interlink_proxy_' });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const sessions = new Gauge({
    name: 'interlink_sessions',
    help: 'Sessions known to the proxy server, by site and state',
    labelNames: ['site', 'state'] as const,
    registers
  });
  const launches = counter(
    'interlink_launches_total',
    'Launch requests, by site and outcome (created, rejected, backend_error)',
    ['site', 'outcome']
  );
  const requests = counter(
    'interlink_http_requests_total',
    'HTTP requests answered by the proxy server itself, by route and status',
    ['route', 'status']
  );
  const refused = counter(
    'interlink_refused_total',
    'Requests and upgrades refused for identity, ownership or origin',
    ['route', 'why']
  );
  return { registry, sessions, launches, requests, refused };
}

/** Keeps the per-site, per-state gauge exact: recomputed from the store, not incremented. */
export function recordSessionStates(
  metrics: ServerMetrics,
  counts: Map<string, Map<string, number>>,
  siteIds: string[]
): void {
  for (const site of siteIds) {
    for (const state of SESSION_STATES) {
      metrics.sessions.set({ site, state }, counts.get(site)?.get(state) ?? 0);
    }
  }
}
