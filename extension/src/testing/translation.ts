import type { TranslationBundle } from '@jupyterlab/translation';

/** English as written, `%1`… filled in: what JupyterLab shows with no translation installed. */
export const english = {
  __: (text: string, ...args: unknown[]) =>
    text.replace(/%(\d+)/g, (_, n: string) => String(args[Number(n) - 1]))
} as unknown as TranslationBundle;
