FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY callcenter callcenter
COPY crm_core crm_core
RUN pip install --no-cache-dir .
EXPOSE 8080 4573
CMD ["callcenter", "serve", "--host", "0.0.0.0"]
