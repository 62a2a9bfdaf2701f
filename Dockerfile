# FlossPay with its three rails: one image for the API, the worker, the migrations and the sandboxes
# (the command decides). Built and run by ops/docker-compose.yml. Not built on the build machines
# (no Docker engine there): see docs/operations.md for what was and was not run.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLOSSPAY_HOST=0.0.0.0 \
    FLOSSPAY_DATA_DIR=/var/lib/flosspay \
    FLOSSPAY_LOG_FORMAT=json

WORKDIR /src
COPY pyproject.toml README.md ./
COPY flosspay ./flosspay
COPY plugins ./plugins
RUN pip install . ./plugins/upi ./plugins/card ./plugins/wallet \
    && useradd --system --home-dir /var/lib/flosspay --create-home flosspay

USER flosspay
WORKDIR /var/lib/flosspay
EXPOSE 8080 9200
ENTRYPOINT ["flosspay"]
CMD ["api", "--port", "8080", "--workers", "2"]
