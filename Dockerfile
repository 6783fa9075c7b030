# For hosts that run containers. Build: docker build -t service .
# Run: docker run -p 8000:8000 -e DATABASE_URL=... -e ENVIRONMENT=production service
ARG PYTHON_VERSION=3.12

# Build stage: install the pinned dependencies into a virtual environment.
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# Final stage: the virtual environment and the code, nothing else.
FROM python:${PYTHON_VERSION}-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
# Clients may reach the container's port with no proxy in front to bound their request
# headers, so Gunicorn does (docs/docker.md). Set it to false behind a proxy that does.
ENV GUNICORN_CLIENT_LIMITS=true
# The code stays owned by root: the process that serves it cannot rewrite it.
RUN useradd --system --uid 10001 --no-create-home app
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini gunicorn.conf.py ./
COPY app ./app
COPY migrations ./migrations
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
