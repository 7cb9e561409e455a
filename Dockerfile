# Kokudaka API. The chain is external in a container: set KOKUDAKA_CHAIN_RPC_URL
# (and the production keys); the managed local anvil is for laptops and CI.
FROM node:20-bookworm-slim AS contracts
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=optional
COPY contracts contracts
COPY src/kokudaka/chain/artifacts src/kokudaka/chain/artifacts
RUN node contracts/compile.mjs --check

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    KOKUDAKA_ENV=production KOKUDAKA_HOST=0.0.0.0 KOKUDAKA_DATA_DIR=/data
WORKDIR /app
RUN useradd --create-home --uid 10001 kokudaka && mkdir /data && chown kokudaka /data
COPY pyproject.toml README.md alembic.ini ./
COPY migrations migrations
COPY src src
# The API docs' scripts are served by the service itself (closed town-hall networks).
COPY --from=contracts /app/node_modules/swagger-ui-dist node_modules/swagger-ui-dist
COPY --from=contracts /app/node_modules/redoc/bundles node_modules/redoc/bundles
# The web console's scripts, served the same way.
COPY --from=contracts /app/node_modules/htmx.org/dist node_modules/htmx.org/dist
COPY --from=contracts /app/node_modules/chart.js/dist node_modules/chart.js/dist
RUN pip install --no-cache-dir -e .
USER kokudaka
EXPOSE 8000
VOLUME ["/data"]
CMD ["kokudaka", "serve"]
