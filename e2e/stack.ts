/**
 * The cluster the browser tests run against: started once by global-setup.ts, through the same
 * code as `npm run cluster`, and described to the test workers in an environment variable.
 */
import { parseClusterPort } from '../lab/cluster/topology.js';

/** Base port of the test cluster: away from `npm run cluster`'s 8080, so both can run at once. */
export const E2E_BASE_PORT = parseClusterPort(process.env.E2E_CLUSTER_PORT ?? '18080');

export interface StackInfo {
  /** nginx */
  url: string;
  basePort: number;
  stateDir: string;
  replicas: { number: number; url: string; pid: number }[];
}

const ENV_NAME = 'E2E_STACK';

export function publishStackInfo(info: StackInfo): void {
  process.env[ENV_NAME] = JSON.stringify(info);
}

export function stackInfo(): StackInfo {
  const json = process.env[ENV_NAME];
  if (!json) throw new Error(`${ENV_NAME} is not set: run the specs with \`npm run test:e2e\`, whose global set-up starts the cluster`);
  return JSON.parse(json) as StackInfo;
}
