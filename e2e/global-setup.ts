import { startCluster } from '../lab/cluster/cluster.js';
import { E2E_BASE_PORT, publishStackInfo } from './stack.js';

/** Starts the cluster for the whole run; Playwright calls the returned function at the end, pass or fail. */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const cluster = await startCluster({ basePort: E2E_BASE_PORT });
  publishStackInfo({
    url: cluster.url,
    basePort: E2E_BASE_PORT,
    stateDir: cluster.stateDir,
    replicas: cluster.replicas.map(({ number, url, process }) => ({ number, url, pid: process.pid })),
  });
  return cluster.stop;
}
