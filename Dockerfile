# syntax=docker/dockerfile:1
# lastcall images: one Dockerfile, one target each.
#   docker build --target workload -t lastcall/workload:v1 .
#   docker build --target operator -t lastcall/operator:dev .
# No build step: Node 24 runs the TypeScript sources directly (type stripping).

ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only (no vitest, biome, typescript, or the node binary package).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# What both images share: the Node runtime, the dependencies, package.json ("type": "module").
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# The operator–workload contracts (environment, drain report): both images import them.
COPY contracts/ ./contracts/
# Numeric non-root user (the image's "node" user): with a number, the kubelet can enforce
# runAsNonRoot without guessing what a user name maps to.
USER 1000:1000

FROM runtime AS operator
COPY operator/ ./operator/
# The Kubernetes client the operator talks to the API server with (REST, watch, kubeconfig, events).
COPY kube/ ./kube/
# Exec form: node itself is PID 1 and receives SIGTERM (no shell, no npm in between).
CMD ["node", "operator/main.ts"]

# The default target (last stage).
FROM runtime AS workload
COPY workload/ ./workload/
EXPOSE 8080
# Exec form: node itself is PID 1 and receives SIGTERM; the workload installs its own handlers
# (Node as PID 1 would otherwise ignore SIGTERM).
CMD ["node", "workload/main.ts"]
