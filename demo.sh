#!/usr/bin/env bash
# The README's first command: builds the action zips, then shows the kit's feed patterns working
# end to end on the local OpenWhisk sandbox. Ends by itself and says what it showed.
set -euo pipefail
cd "$(dirname "$0")"

./build.sh

# The Connections part needs a CouchDB-compatible server: the demo installs pouchdb-server from
# npm on first use (or says why it skips that part).
cargo build --quiet --bin demo --bin changes-provider
exec target/debug/demo
