/** Structured JSON logs (pino). Secrets never reach them: the redaction list is the last line of defence. */
import { pino, type Logger } from 'pino';

export function createLogger(level = process.env.INTERLINK_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: 'interlink-proxy',
    level,
    redact: {
      paths: [
        'secret',
        'token',
        '*.secret',
        '*.token',
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie'
      ],
      censor: '[redacted]'
    }
  });
}

export type { Logger };
