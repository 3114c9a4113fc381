/**
 * The route a request below {base} is for, from a fixed list: metric labels come from here, so
 * a caller who makes up paths cannot make up label values (each one a series kept forever).
 */
export const ROUTE_NAMES = [
  'api_sites',
  'api_sessions',
  'api_events',
  'api_other',
  'sessions',
  'sessions_ws',
  'tunnel',
  'metrics',
  'healthz',
  'other'
] as const;

export type RouteName = (typeof ROUTE_NAMES)[number];

/** `rest` is the path below {base}, starting with `/`. */
export function routeName(rest: string): RouteName {
  if (rest.startsWith('/sessions/')) return 'sessions';
  if (rest === '/api/sites') return 'api_sites';
  if (rest === '/api/sessions' || rest.startsWith('/api/sessions/')) return 'api_sessions';
  if (rest === '/api/events') return 'api_events';
  if (rest.startsWith('/api/')) return 'api_other';
  if (rest === '/tunnel') return 'tunnel';
  if (rest === '/metrics') return 'metrics';
  if (rest === '/healthz') return 'healthz';
  return 'other';
}
