/**
 * Derives the Prometheus config the local cluster runs from the one real file,
 * prometheus/prometheus.yml (the compose override's), as lab/cluster/nginx-conf.ts does for nginx:
 * each `chatN:3000` target becomes the replica's local port, the rules file an absolute path, and
 * both intervals 1 s, so that what you do shows at once (four local targets cost nothing).
 */
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CONTAINER_PORT, PROJECT_ROOT, type ClusterPorts } from './topology.js';

export const PROMETHEUS_DIR = join(PROJECT_ROOT, 'prometheus');
export const PROMETHEUS_CONFIG_PATH = join(PROMETHEUS_DIR, 'prometheus.yml');

/** The parts of prometheus.yml the launcher reads and rewrites. */
interface PrometheusConfig {
  global: { scrape_interval: string; evaluation_interval: string };
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
}

const TARGET = new RegExp(String.raw`^chat(\d+):${CONTAINER_PORT}$`);

/** The replica numbers the `chat` job scrapes, in order. */
export function prometheusReplicaNumbers(config: string): number[] {
  return chatJob(parse(config) as PrometheusConfig).static_configs.flatMap((group) => group.targets.map((target) => Number(TARGET.exec(target)?.[1])));
}

export function deriveLocalPrometheusConfig(config: string, ports: ClusterPorts): string {
  const local = parse(config) as PrometheusConfig;
  local.global.scrape_interval = '1s';
  local.global.evaluation_interval = '1s';
  local.rule_files = local.rule_files.map((file) => join(PROMETHEUS_DIR, file));
  for (const group of chatJob(local).static_configs) {
    group.targets = group.targets.map((target) => {
      const number = TARGET.exec(target)?.[1];
      if (!number) throw new Error(`prometheus.yml: expected chatN:${CONTAINER_PORT} targets, got ${target}`);
      return `127.0.0.1:${ports.replica(Number(number))}`;
    });
  }
  return stringify(local);
}

function chatJob(config: PrometheusConfig): PrometheusConfig['scrape_configs'][number] {
  const job = config.scrape_configs.find((candidate) => candidate.job_name === 'chat');
  if (!job) throw new Error('prometheus.yml: expected a scrape config with job_name: chat');
  return job;
}
