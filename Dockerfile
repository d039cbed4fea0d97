# syntax=docker/dockerfile:1
# The monitor as a container image: multi-stage, runtime dependencies only, non-root.
#   docker build -t gov-site-monitor .
#   docker run -v $PWD/monitor.yaml:/etc/monitor/monitor.yaml:ro -p 9108:9108 gov-site-monitor
# Docker could not be run where this file was written; tests/test_deploy.py runs the build
# stage's install steps in a clean virtualenv instead (see deploy/README.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv holding the monitor and its runtime dependencies, nothing else ------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the package needs: tests, docs and deploy files stay out of the image.
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
# tzdata: slim images have no zone files, and the config's time zone (Asia/Shanghai) must load.
RUN python -m venv /opt/monitor \
 && /opt/monitor/bin/pip install . tzdata \
 && /opt/monitor/bin/pip uninstall --yes pip setuptools \
 && /opt/monitor/bin/monitor --version

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="gov-site-monitor" \
      org.opencontainers.image.description="Uptime, latency, login and freshness monitoring of government websites and new-media accounts"
RUN groupadd --system --gid 10001 monitor \
 && useradd --system --uid 10001 --gid monitor --home-dir /var/lib/monitor \
            --shell /usr/sbin/nologin monitor \
 && mkdir -p /etc/monitor /var/lib/monitor \
 && chown monitor:monitor /var/lib/monitor
COPY --from=build /opt/monitor /opt/monitor
COPY deploy/monitor.yaml /etc/monitor/monitor.yaml
ENV PATH=/opt/monitor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TZ=Asia/Shanghai \
    MONITOR_CONFIG=/etc/monitor/monitor.yaml \
    MONITOR_HEALTHZ_URL=http://127.0.0.1:9108/healthz
USER 10001:10001
WORKDIR /var/lib/monitor
# The config (mount yours over it) and the data dir (embedded PostgreSQL when no URL is set).
VOLUME ["/etc/monitor", "/var/lib/monitor"]
EXPOSE 9108
# Python is in the image anyway: no curl needed. urlopen fails on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['MONITOR_HEALTHZ_URL'], timeout=4)"]
ENTRYPOINT ["monitor"]
CMD ["run"]
