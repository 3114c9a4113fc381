/** The tunnel endpoint's Prometheus metrics, on the proxy server's registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TunnelMetrics {
  tunnelsUp: Gauge;
  streamsOpen: Gauge<'kind'>;
  bytes: Counter<'direction'>;
  refused: Counter<'reason'>;
  reconnects: Counter;
  connections: Counter<'transport'>;
}

/** What the metrics read from a tunnel at scrape time. */
export interface MeteredTunnel {
  readonly ready: boolean;
  /** Bytes on the agent's connection since the last call. */
  takeBytes(): { read: number; written: number };
}

export function createTunnelMetrics(
  registry: Registry | undefined,
  tunnels: () => Iterable<MeteredTunnel>
): TunnelMetrics {
  const registers = registry ? [registry] : [];
  return {
    tunnelsUp: new Gauge({
      name: 'interlink_tunnels_up',
      help: 'Agent tunnels connected and ready',
      registers,
      collect() {
        let n = 0;
        for (const t of tunnels()) if (t.ready) n++;
        this.set(n);
      }
    }),
    streamsOpen: new Gauge({
      name: 'interlink_tunnel_streams_open',
      help: 'Proxied streams open through tunnels',
      labelNames: ['kind'],
      registers
    }),
    bytes: new Counter({
      name: 'interlink_tunnel_bytes_total',
      help: 'Bytes on agent tunnel connections, by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        for (const t of tunnels()) {
          const { read, written } = t.takeBytes();
          this.inc({ direction: 'from_agent' }, read);
          this.inc({ direction: 'to_agent' }, written);
        }
      }
    }),
    refused: new Counter({
      name: 'interlink_tunnel_upgrades_refused_total',
      help: 'Agent tunnel connections refused, by reason',
      labelNames: ['reason'],
      registers
    }),
    reconnects: new Counter({
      name: 'interlink_tunnel_reconnects_total',
      help: 'Agent tunnel connections for a session that had connected before',
      registers
    }),
    connections: new Counter({
      name: 'interlink_tunnel_connections_total',
      help: 'Agent tunnel connections accepted, by transport (raw: HTTP/2 on the connection; websocket: the fallback through middleboxes)',
      labelNames: ['transport'],
      registers
    })
  };
}
