/** `npm run cluster`: the docker-compose topology as local processes, until Ctrl-C. */
import { startCluster } from './cluster.js';
import { MissingProgramsError } from './system-programs.js';
import { parseClusterPort } from './topology.js';

try {
  const cluster = await startCluster({ basePort: parseClusterPort(process.env.CLUSTER_PORT) });

  for (const replica of cluster.replicas) {
    console.log(`  instance #${replica.number}: ${replica.url}`);
  }
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
