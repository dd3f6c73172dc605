FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md schema.graphql ./
COPY closedloop ./closedloop
RUN pip install . && useradd --create-home closedloop
USER closedloop

# Production sets DATABASE_URL (and CLOSEDLOOP_JWKS_URL); without it the image starts its
# own embedded PostgreSQL in /home/closedloop/.closedloop, which suits a demo only.
ENV CLOSEDLOOP_DATA_DIR=/home/closedloop/.closedloop CLOSEDLOOP_ENVIRONMENT=production
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["closedloop", "serve", "--host", "0.0.0.0", "--port", "8000"]
