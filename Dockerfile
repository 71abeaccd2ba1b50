# cdio-stream worker image (used by docker-compose.yml).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md topics.yaml ./
COPY cdio_stream ./cdio_stream
COPY agents ./agents
RUN pip install --no-cache-dir .
ENV YOLO_OFFLINE=1
ENTRYPOINT []
