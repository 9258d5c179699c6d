#!/usr/bin/env bash
# The README's first command: builds the action zips, then shows the kit's feed patterns working
# end to end on the local OpenWhisk sandbox. Ends by itself and says what it showed.
set -euo pipefail
cd "$(dirname "$0")"

./build.sh

# The Connections part needs a CouchDB-compatible server: pouchdb-server, from npm.
if command -v npm >/dev/null && [ ! -d provider/testdb/node_modules/pouchdb-server ]; then
    npm ci --prefix provider/testdb --no-audit --no-fund --loglevel=error ||
        echo "demo.sh: could not install pouchdb-server; the Connections part will be skipped" >&2
fi

cargo build --quiet --bin demo --bin changes-provider
exec target/debug/demo
