/**
 * Test helpers other packages' tests use (`@jupyterlab-interlink/vk-bridge/testing`): the fake
 * Kubernetes API server, the virtual node that really runs its pods, and a site on them. Not part
 * of the runtime API.
 */
export { FakeApiServer, type FakeKubelet } from './fake-apiserver.js';
export { LocalKubelet } from './local-kubelet.js';
export { leonardoOnFakeApi, terminatedAgent } from './kubernetes-site.js';
export { FakeHtcondorPlugin, type CondorJob } from './fake-htcondor-plugin.js';
export { InterlinkApi, KubernetesStack, freePort, stackBin } from './interlink-api.js';
export { launch, testSite } from './fixtures.js';
export * from './accounts.js';
