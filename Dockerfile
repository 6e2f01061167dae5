# anonymiser: cut and restore PII-free PostgreSQL snapshots.
# Build:  docker build -t anonymiser .
# Run:    docker run --rm -e ANONYMISER_SOURCE -e ANONYMISER_KEY anonymiser snapshot create fullset ...

FROM python:3.12-slim-trixie AS build
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY anonymiser ./anonymiser
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint requirements.lock .

FROM python:3.12-slim-trixie
# Debian trixie ships PostgreSQL 17: its pg_dump reads servers 14 to 17 (pg_dump must be at
# least the server's major version).
ARG PG_CLIENT_MAJOR=17
# The client's major version is pinned; its minor releases are security fixes we want.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_MAJOR}" \
 && rm -rf /var/lib/apt/lists/*
ENV ANONYMISER_PG_BIN=/usr/lib/postgresql/${PG_CLIENT_MAJOR}/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
# /wheels holds exactly the versions of requirements.lock, built in the first stage
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 anonymiser
USER 10001
WORKDIR /home/anonymiser
ENTRYPOINT ["anonymiser"]
CMD ["--help"]
