#!/bin/sh
# Start one process of the stack under uvicorn, with the same flags as devstack/stack.py.
# APP selects it (auth|catalog|order|payment|gateway); PORT defaults to 8000.
# Any arguments replace the server (e.g. `docker run --rm -it IMAGE sh` to look around).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# The gateway faces clients: httptools with a bounded request head (gateway/server.py), uvloop, a
# concurrency cap and a deeper backlog, as devstack/stack.py runs it (deploy/README.md says why).
case "${APP:-}" in
    auth|catalog|order|payment) set -- "services.${APP}.app:create_app" ;;
    gateway)
        set -- gateway.app:create_app --http gateway.server:BoundedHttpToolsProtocol --loop uvloop \
            --limit-concurrency 1000 --backlog 2048
        ;;
    *)
        echo "entrypoint: set APP to one of auth, catalog, order, payment, gateway (got '${APP:-}')" >&2
        exit 64
        ;;
esac

exec python -m uvicorn --factory "$@" \
    --host 0.0.0.0 --port "${PORT:-8000}" \
    --no-access-log \
    --no-server-header \
    --no-proxy-headers \
    --timeout-keep-alive 5 \
    --timeout-graceful-shutdown 10
