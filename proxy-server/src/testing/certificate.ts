/** Self-signed certificates for tests, made by openssl (EC P-256: quick to make). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Certificate {
  key: Buffer;
  cert: Buffer;
  keyFile: string;
  certFile: string;
}

/** A self-signed certificate for exactly `san` (e.g. `DNS:localhost,IP:127.0.0.1`), in `dir`. */
export function selfSigned(dir: string, name: string, san: string): Certificate {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.pem`);
  // prettier-ignore
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), keyFile, certFile };
}
