# syntax=docker/dockerfile:1
#
# The identity service: `docker build -t identity .`, then see docker-compose.yml.
#
# Two stages on the same base image (the venv's interpreter symlinks must resolve in both):
#   builder  builds the wheel (templates, policies and migrations are bundled in it under
#            identity/_resources, see pyproject.toml) and installs it with its dependencies
#            into /opt/venv -- a normal install, not an editable one;
#   runtime  gets only that venv, and runs as an unprivileged user.
# No secret is baked in: IDENTITY_SECRET_KEY, IDENTITY_ISSUER and IDENTITY_DATABASE_URL come
# from the environment at run time (production settings refuse to start without them).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
# Everything the wheel is built from (README.md is the package's readme in pyproject.toml).
COPY pyproject.toml README.md ./
COPY src/ src/
COPY templates/ templates/
COPY policies/ policies/
COPY migrations/ migrations/

RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/venv/bin/pip install /tmp/wheels/identity-*.whl \
 && rm -rf /tmp/wheels

# Fail the build, not the first request, if the installed wheel lacks a resource file: every
# file of templates/, policies/ and migrations/ must be bundled under identity/_resources, and
# the package must resolve its folders there. Run from / so nothing in /build can stand in.
RUN cd / && /opt/venv/bin/python -c "\
import pathlib, identity; \
from identity.resources import resource_dir; \
src = pathlib.Path('/build'); \
bundled = pathlib.Path(identity.__file__).resolve().parent / '_resources'; \
missing = [str(f) for n in ('templates', 'policies', 'migrations') for f in (src / n).rglob('*') \
           if f.is_file() and not (bundled / f.relative_to(src)).is_file()]; \
assert not missing, f'not in the wheel: {missing}'; \
found = [resource_dir(n) for n in ('templates', 'migrations')]; \
assert all(bundled in p.parents for p in found), found; \
print('resources:', *found)" \
 && /opt/venv/bin/identity --help > /dev/null


FROM ${PYTHON_IMAGE} AS runtime

# IDENTITY_VAR_DIR: the only place the service writes to (mail spool of the file backend, and
# the SQLite file and generated secret when run without a database URL and key).
ENV IDENTITY_ENV=production \
    IDENTITY_VAR_DIR=/var/lib/identity \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed numeric uid/gid, so that orchestrators (runAsNonRoot) and volume owners can rely on it.
RUN groupadd --system --gid 10001 identity \
 && useradd --system --uid 10001 --gid identity \
        --home-dir /app --no-create-home --shell /usr/sbin/nologin identity \
 && install -d -o identity -g identity -m 0750 /var/lib/identity

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# /healthz is database-free; slim images have no curl, so use Python's urllib
# (urlopen raises on connection errors and non-2xx answers: exit status 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["identity", "serve", "--host", "0.0.0.0", "--port", "8000"]
