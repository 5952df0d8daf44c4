# The chat replica's image. docker-compose.yml runs four containers of it behind nginx.
#
# Two stages: the first has the compiler (TypeScript) and builds dist/; the second starts
# again from a clean base and takes only dist/ and the production dependencies, so the image that
# runs carries neither the compilers nor the TypeScript sources.

# ---- build: compile the server and the browser script ---------------------------------------------
# The current Node LTS. "slim" is Debian without compilers or docs; nothing here builds native code.
FROM node:24-slim AS build
WORKDIR /app

# The manifest and lockfile first, on their own: Docker reuses a cached layer while its inputs are
# unchanged, so editing a source file does not re-run the (slow) install below.
COPY package.json package-lock.json ./
# `npm ci` installs exactly what the lockfile says (dev dependencies included: the build needs them)
# and fails if package.json and the lockfile disagree, rather than quietly updating the lockfile.
RUN npm ci

# Only what `npm run build` reads: server/ and client/ each compile with a tsconfig.json of their
# own, which extends the root one, and both import shared/.
COPY tsconfig.json ./
COPY server/ server/
COPY shared/ shared/
COPY client/ client/
RUN npm run build

# ---- runtime: what the replica needs to run, nothing more -----------------------------------------
# The same base as the build stage, so the Node version that built dist/ is the one that runs it.
FROM node:24-slim
WORKDIR /app

# Express caches compiled views and hides stack traces in production mode, and npm leaves out dev
# dependencies when NODE_ENV is production.
ENV NODE_ENV=production

# Same caching order as above. --omit=dev says it outright: no TypeScript, Playwright, tsx.
# The npm cache is only useful while installing, so it is removed in the same layer (a later
# `RUN rm` could not shrink a layer that is already written).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# The compiled server and browser script from the build stage, and the files served as they are.
# server/app.ts finds views/, public/ and dist/browser/ from the folder holding package.json, so the
# layout must match the project's.
COPY --from=build /app/dist/ dist/
COPY views/ views/
COPY public/ public/

# The official image has an unprivileged `node` user. The files above stay owned by root, so the
# server can read its code but not change it.
USER node

# Documents the port the server listens on (config.ts: PORT defaults to 3000); compose publishes it.
EXPOSE 3000

# The exec form (a JSON list) runs node as PID 1 with no shell or npm in between, so `docker stop`'s
# SIGTERM reaches the server, whose handler closes connections cleanly (server/main.ts).
CMD ["node", "dist/server/main.js"]
