FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var STATIC_ROOT=/app/static-root
WORKDIR /app
RUN useradd --create-home --uid 1000 hub
COPY . .
RUN pip install --no-cache-dir . \
 && DEBUG=true python manage.py collectstatic --noinput \
 && mkdir -p /app/var && chown -R hub /app/var
USER hub
EXPOSE 8000
CMD ["gunicorn", "cartrover.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
