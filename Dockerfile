# The scheduler image: the pinned dependencies, then the code; runs `scheduler up` by default.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml ./
COPY domain ./domain
COPY application ./application
COPY projections ./projections
COPY adapters ./adapters
COPY entrypoints ./entrypoints
COPY migrations ./migrations
COPY config ./config
# The seed's example task, found by the python executor in the working directory /app.
COPY process_data.py ./
RUN pip install --no-cache-dir --no-deps -e .
# A user of its own (the uid deploy/k8s runs as), owning nothing of the code it runs.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home scheduler \
    && mkdir -p /app/var && chown scheduler:scheduler /app/var
USER 10001:10001
# Outside the container no caller is on its loopback: anonymous access is off, so the
# development config may listen on 0.0.0.0. Create a key: docker compose exec scheduler
# scheduler keys create --name admin --role admin
ENV SCHEDULER_API__HOST=0.0.0.0 SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK=false
EXPOSE 8080
# /health of `up` and `api` (503 while degraded); compose gives the other processes their own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["scheduler"]
CMD ["up", "--config", "config/development.toml"]
