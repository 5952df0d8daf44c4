import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';

/** What GET /healthz reports. */
interface HealthReport {
  instance: string;
  /** "down" when Redis did not answer a PING in time; "none" without Redis (single node). */
  redis: 'up' | 'down' | 'none';
  /** Socket.IO connections held by this replica, not the cluster. */
  connections: number;
  /** Shutting down (SIGTERM): it takes no new clients and is moving its own elsewhere. */
  draining: boolean;
}

/** The folder with package.json: this file runs as server/app.ts (tsx) and as dist/server/app.js. */
function findProjectRoot(): string {
  for (let folder = dirname(fileURLToPath(import.meta.url)); ; folder = dirname(folder)) {
    if (existsSync(join(folder, 'package.json'))) return folder;
    if (folder === dirname(folder)) throw new Error('no package.json above the server code');
  }
}
const projectRoot = findProjectRoot();
// Served from the installed package rather than a CDN, so the page works offline.
const jqueryDist = dirname(createRequire(import.meta.url).resolve('jquery'));

/** The HTTP side: the chat page, its static files, and the health check. */
export function createApp(options: { instance: string; metrics: Registry | undefined; health: () => Promise<HealthReport> }): express.Express {
  const app = express();

  app.use(
    helmet({
      contentSecurityPolicy: {
        // The demo is served over plain HTTP (nginx on :8080); upgrading requests to https would
        // break it. Behind TLS, drop this line to get helmet's default back.
        directives: { upgradeInsecureRequests: null },
      },
    }),
  );

  app.set('view engine', 'ejs');
  app.set('views', join(projectRoot, 'views'));

  app.get('/', (_req, res) => {
    res.render('index', { instance: options.instance });
  });

  app.get('/healthz', async (_req, res) => {
    const report = await options.health();
    // Load balancers and compose healthchecks read the status: a replica that cannot reach Redis
    // would refuse every message, and a draining one is on its way out.
    res.status(report.redis === 'down' || report.draining ? 503 : 200).json(report);
  });

  // For Prometheus, which scrapes each replica directly. The fronts (nginx, HAProxy) do not pass
  // this path on: it tells anyone who can read it how busy each replica is and what fails.
  const { metrics } = options;
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.metrics());
    });
  }

  app.use(express.static(join(projectRoot, 'public')));
  app.use('/js', express.static(join(projectRoot, 'dist', 'browser')));
  app.use('/vendor/jquery', express.static(jqueryDist));

  return app;
}
