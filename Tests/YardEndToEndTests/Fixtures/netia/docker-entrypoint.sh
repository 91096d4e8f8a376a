#!/bin/sh
# `db migrate` applies every migration in order; `run` migrates, then starts the release.
set -eu

migrate() {
    : "${DATABASE_URL:?DATABASE_URL is not set: give the service the Postgres database URL}"
    for migration in /app/migrations/*.sql; do
        echo "migrate: $(basename "$migration")"
        psql "$DATABASE_URL" --quiet --set ON_ERROR_STOP=1 --file "$migration"
    done
}

case "${1:-run}" in
    db)
        [ "${2:-}" = migrate ] || { echo "usage: entrypoint.sh db migrate" >&2; exit 2; }
        migrate
        ;;
    run)
        migrate
        exec /app/bin/netia start
        ;;
    *)
        exec "$@"
        ;;
esac
