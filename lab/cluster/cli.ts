/** `npm run cluster`: the docker-compose topology as local processes, until Ctrl-C. */
import { FRONTS, programsFor, startCluster, type Front } from './cluster.js';
import { installMissing, MissingProgramsError } from './system-programs.js';
import { parseClusterPort } from './topology.js';

/** CLUSTER_FRONT: nginx (the default) or haproxy. */
function parseFront(value: string | undefined): Front {
  const front = value || 'nginx';
  if (!FRONTS.includes(front as Front)) throw new Error(`CLUSTER_FRONT must be one of ${FRONTS.join(', ')} (got "${value}")`);
  return front as Front;
}

/** CLUSTER_REDIS: `single` (the default: one redis-server) or `cluster` (a Redis Cluster of six nodes). */
function parseRedisCluster(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'single') return false;
  if (value === 'cluster') return true;
  throw new Error(`CLUSTER_REDIS must be single or cluster (got "${value}")`);
}

/** CLUSTER_PROMETHEUS: 1 starts Prometheus too; unset (or 0) does not. */
function parsePrometheus(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new Error(`CLUSTER_PROMETHEUS must be 1 or 0 (got "${value}")`);
}

try {
  const front = parseFront(process.env.CLUSTER_FRONT);
  const prometheus = parsePrometheus(process.env.CLUSTER_PROMETHEUS);
  const redisCluster = parseRedisCluster(process.env.CLUSTER_REDIS);
  // As root with apt-get, what is missing is installed now; otherwise startCluster names it.
  installMissing(programsFor(front, prometheus, redisCluster));
  const cluster = await startCluster({ basePort: parseClusterPort(process.env.CLUSTER_PORT), front, prometheus, redisCluster });

  for (const replica of cluster.replicas) {
    // The PID: `kill <pid>` drains that replica, `kill -9 <pid>` crashes it, to watch a failover.
    console.log(`  instance #${replica.number}: ${replica.url} (pid ${replica.process.pid})`);
  }
  console.log(`  front: ${front}`);
  // Each node's PID: `kill -9 <pid>` of a primary shows a failover (its replica takes over in about 15 s).
  for (const url of cluster.redisCluster?.urls ?? []) {
    const port = Number(new URL(url).port);
    console.log(`  redis cluster node: 127.0.0.1:${port} (pid ${cluster.redisCluster!.node(port).pid})`);
  }
  // Each replica serves its own metrics at <replica url>/metrics; Prometheus has them all.
  if (cluster.prometheusUrl) console.log(`  prometheus: ${cluster.prometheusUrl}`);
  console.log(`  logs: ${cluster.stateDir}`);
  console.log(`cluster ready: ${cluster.url}`);

  let stopping = false;
  // Say so when a child dies on its own (its log says why); the rest keep running.
  for (const replica of cluster.replicas) {
    void replica.process.exited.then((how) => {
      if (!stopping) console.error(`instance #${replica.number} exited (${how}); see ${replica.process.logFile}`);
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopping = true;
      console.log(`${signal}: stopping the cluster`);
      void cluster.stop().then(() => process.exit(0));
    });
  }
} catch (err) {
  // Expected failures (a missing program, a busy port, a child that would not start) are one
  // readable message, not a stack trace.
  console.error(err instanceof Error ? `${err instanceof MissingProgramsError ? '' : 'cluster failed: '}${err.message}` : err);
  process.exit(1);
}
