# The y8m image: the dashboard, the workers and flower of docker-compose.yml (README, "Scaling out").
# Inside Docker, PyPI's torch==2.13.0 wheel is the CUDA build (it brings its own CUDA libraries): the GPU workers
# need only the host's NVIDIA driver and the NVIDIA Container Toolkit. No CMD trains: each service names its
# command in docker-compose.yml; the default opens the command line's help.
FROM python:3.11.14-slim-bookworm

# Y8M_DATA_ROOTS and Y8M_ARTIFACTS are the mount points of the data and artifact volumes: dataset paths are
# stored in the database, so /data is the same path in every container on every machine.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    Y8M_HOME=/home/y8m/var \
    Y8M_DATA_ROOTS=/data \
    Y8M_ARTIFACTS=/artifacts

# uid 1000: the owner of fresh named volumes (Docker copies the ownership of /data and /artifacts into them);
# a bind-mounted or NFS /artifacts must be writable by it.
RUN groupadd --gid 1000 y8m \
    && useradd --create-home --uid 1000 --gid 1000 --shell /usr/sbin/nologin y8m \
    && mkdir -p /data /artifacts \
    && chown 1000:1000 /data /artifacts

WORKDIR /app
# The pinned requirements first: that layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY y8m_models ./y8m_models
COPY db ./db
COPY worker ./worker
COPY app ./app
# Editable: the code stays in /app (owned by root, read-only to y8m); --no-deps: requirements.txt pinned them.
RUN pip install --no-cache-dir --no-deps -e .

USER 1000:1000
EXPOSE 8501 5555
CMD ["y8m", "--help"]
