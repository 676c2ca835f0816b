# dtms in a container. Out of the box (docker-compose.yml) it manages the simulated broker that
# `dtms sim-server` serves; docs/run-for-real.md points it at an MT5-under-Wine container.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /opt/dtms-src/
COPY dtms /opt/dtms-src/dtms
RUN pip install /opt/dtms-src && rm -rf /opt/dtms-src

# the journal (dtms.sqlite3) and logs/ live in /data: keep it on a volume
RUN useradd --create-home --uid 10001 dtms && mkdir -p /data /etc/dtms && chown dtms /data
COPY config.toml /etc/dtms/config.toml
USER dtms
WORKDIR /data

EXPOSE 8765
# /health answers 200 only while cycles run, the broker link is up, AutoTrading is on and the
# journal is writable (it needs no token)
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8765/health', timeout=4)"]

ENTRYPOINT ["dtms"]
# listening beyond loopback needs a token: set DTMS_HTTP_TOKEN
CMD ["run", "--config", "/etc/dtms/config.toml", "--broker", "mt5linux", "--http", "0.0.0.0:8765"]
