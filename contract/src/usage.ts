/**
 * What a session's node is using (sampled by the agent in the job, pushed by the proxy to its
 * owner while they watch) and what a user has used on each site this month (from the proxy's
 * session records). Wire shapes, browser-safe.
 */
import { Type, type Static } from '@sinclair/typebox';

export const GpuUsage = Type.Object({
  index: Type.Integer(),
  name: Type.String(),
  /** percent */
  utilization: Type.Number(),
  memoryUsedMiB: Type.Number(),
  memoryTotalMiB: Type.Number()
});
export type GpuUsage = Static<typeof GpuUsage>;

export const NodeUsage = Type.Object({
  at: Type.String(),
  /** All cores of the node, busy share since the previous sample, percent. */
  cpu: Type.Object({ percent: Type.Number(), cores: Type.Integer() }),
  memory: Type.Object({ usedBytes: Type.Number(), totalBytes: Type.Number() }),
  /** From `nvidia-smi` where the node has it. */
  gpus: Type.Optional(Type.Array(GpuUsage))
});
export type NodeUsage = Static<typeof NodeUsage>;

export const SiteUsage = Type.Object({
  site: Type.String(),
  /** Hours × GPUs (cores) of the caller's sessions on the site this month, running ones so far. */
  gpuHours: Type.Number(),
  coreHours: Type.Number(),
  /** What the site's budget command says of the caller's allocation, as it says it. */
  budget: Type.Optional(Type.String())
});
export type SiteUsage = Static<typeof SiteUsage>;

export const UsageSummary = Type.Object({
  /** `2026-12` (UTC) */
  month: Type.String(),
  sites: Type.Array(SiteUsage)
});
export type UsageSummary = Static<typeof UsageSummary>;
