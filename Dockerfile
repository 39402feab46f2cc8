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
# Outside the container no caller is on its loopback: anonymous access is off, so the
# development config may listen on 0.0.0.0. Create a key: docker compose exec scheduler
# scheduler keys create --name admin --role admin
ENV SCHEDULER_API__HOST=0.0.0.0 SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK=false
EXPOSE 8080
ENTRYPOINT ["scheduler"]
CMD ["up", "--config", "config/development.toml"]
