# One image for every service; docker-compose.yml / Kubernetes pick the entry point per service.
# syntax=docker/dockerfile:1

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional: the image is node:24 already; the project's pinned Node (optionalDependencies) is for machines without it.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY platform platform
COPY gateway gateway
COPY subgraphs subgraphs
COPY scripts scripts
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY schema schema
COPY persisted-queries persisted-queries
COPY migrations migrations
# The partner registry's mount point, owned by the app user: Docker copies this into a new named volume,
# so `docker-compose exec gateway node dist/scripts/partner.js …` can write it.
RUN mkdir -p /var/lib/supergraph/clients && chown node:node /var/lib/supergraph/clients
USER node
ENTRYPOINT ["node", "--enable-source-maps"]
CMD ["dist/gateway/index.js"]
