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
  const sessions = new Gauge({
    name: 'interlink_sessions',
    help: 'Sessions known to the proxy server, by site and state',
    labelNames: ['site', 'state'] as const,
    registers: [registry]
  });
  const launches = new Counter({
    name: 'interlink_launches_total',
    help: 'Launch requests, by site and outcome (created, rejected, backend_error)',
    labelNames: ['site', 'outcome'] as const,
    registers: [registry]
  });
  const requests = new Counter({
    name: 'interlink_http_requests_total',
    help: 'HTTP requests answered by the proxy server itself, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry]
  });
  const refused = new Counter({
    name: 'interlink_refused_total',
    help: 'Requests and upgrades refused for identity, ownership or origin',
    labelNames: ['route', 'why'] as const,
    registers: [registry]
  });
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
