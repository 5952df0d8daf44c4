import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import helmet from 'helmet';
import { MAX_MESSAGE_LENGTH } from './message.js';

/** What GET /healthz reports. */
export interface HealthReport {
  instance: string;
  /** "none" when this replica runs without Redis (single node). */
  redis: 'up' | 'down' | 'none';
  /** Socket.IO connections held by this replica, not the cluster. */
  connections: number;
}

// Both server/app.ts (under tsx) and dist/app.js (compiled) sit one level below the project root.
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
// Served from the installed package rather than a CDN, so the page works offline.
const jqueryDist = dirname(createRequire(import.meta.url).resolve('jquery'));

/** The HTTP side: the chat page, its static files, and the health check. */
export function createApp(options: { instance: string; health: () => HealthReport }): express.Express {
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
    res.render('index', { instance: options.instance, maxMessageLength: MAX_MESSAGE_LENGTH });
  });

  app.get('/healthz', (_req, res) => {
    const report = options.health();
    // Load balancers and compose healthchecks read the status: a replica that cannot reach Redis
    // would accept clients whose messages never leave it.
    res.status(report.redis === 'down' ? 503 : 200).json(report);
  });

  app.use(express.static(join(projectRoot, 'public')));
  app.use('/js', express.static(join(projectRoot, 'dist', 'client')));
  app.use('/vendor/jquery', express.static(jqueryDist));

  return app;
}
