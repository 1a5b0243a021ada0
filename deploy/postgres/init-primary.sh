#!/usr/bin/env bash
# Runs once on an empty primary: one database per subgraph, and a role the replica streams with.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
CREATE DATABASE users;
CREATE DATABASE catalog;
CREATE DATABASE orders;
CREATE DATABASE billing;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
