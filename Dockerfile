# The dashboard with its runtime dependencies. MetaTrader5 (Windows only) is skipped by its marker,
# so the container runs the demo account unless MT5_SOURCE points elsewhere.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY . .

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin dashboard \
    && mkdir -p /app/data && chown dashboard:dashboard /app/data
# DATA_DIR (the SQLite archive): the one directory the app writes; docker-compose.yml puts a volume on it.
USER dashboard

EXPOSE 8050

CMD ["python", "app.py"]
