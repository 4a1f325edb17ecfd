# syntax=docker/dockerfile:1
# spectrascope: the dashboard (gunicorn) and, with another command, the Celery job workers.
#
#   docker build -t spectrascope .                              # CPU-only torch (default, ~1 GB smaller)
#   docker build -t spectrascope --build-arg TORCH=cu124 .      # CUDA 12.4 torch, for GPU training workers
#
# TORCH names a PyTorch wheel index (https://download.pytorch.org/whl/<TORCH>): cpu, cu121, cu124, ...
# Runs and settings live in the /data volume; no secret is baked in (README "Deploy for a team").

ARG PYTHON=3.11

# --- build: every wheel, compilers allowed ---------------------------------------------------------
FROM python:${PYTHON}-slim AS build
ARG TORCH=cpu
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY spectrascope spectrascope
COPY training training
COPY analysis analysis
COPY app app
RUN pip wheel --no-cache-dir --wheel-dir /wheels \
        --extra-index-url "https://download.pytorch.org/whl/${TORCH}" ".[celery]"

# --- runtime: the wheels only, no compilers, not root ---------------------------------------------
FROM python:${PYTHON}-slim AS runtime
# tini is PID 1: it forwards signals and reaps the job processes a worker leaves behind; chromium draws
# the frames of GIF, MP4 and PNG exports (plotly.js, as on the page)
RUN apt-get update && apt-get install -y --no-install-recommends tini chromium \
    && rm -rf /var/lib/apt/lists/*
# the wheels are mounted, not copied: a copied layer would keep them (torch twice) after any rm
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "spectrascope[celery]"
RUN useradd --create-home --uid 10001 spectrascope && mkdir /data && chown spectrascope /data
ENV SPECTRASCOPE_DATA_DIR=/data PYTHONUNBUFFERED=1
VOLUME /data
USER spectrascope
WORKDIR /home/spectrascope
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8050/health', timeout=4)"]
ENTRYPOINT ["tini", "--"]
# gthread workers and no preload: see app/gunicorn_config.py
CMD ["gunicorn", "--config", "python:app.gunicorn_config", "app:server"]
