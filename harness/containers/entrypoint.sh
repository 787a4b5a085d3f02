#!/bin/sh
# Entrypoint of the prosody-harness images: `prosody ARGS` runs the server, any other
# command is handed to prosodyctl (so `docker run IMAGE register u host pw` works).
set -e
if [ "$1" = "prosody" ]; then
	exec "$@"
fi
exec prosodyctl "$@"
