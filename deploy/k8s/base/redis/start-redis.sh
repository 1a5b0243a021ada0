#!/bin/sh
# A Redis node of the Sentinel group (Kubernetes: redis.yaml; compose: redis-primary, redis-replica).
# It asks the sentinels who the primary is, because after a failover it is no longer INITIAL_PRIMARY,
# and starts as that primary's replica, or as the primary when that is itself (or nobody knows yet).
set -eu
: "${REDIS_PASSWORD:?}" "${ANNOUNCE_HOST:?}" "${INITIAL_PRIMARY:?}"
primary=""
for sentinel in ${SENTINEL_HOSTS:-}; do
  answer=$(REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$sentinel" -p 26379 sentinel get-master-addr-by-name "${MASTER_NAME:-mymaster}" 2>/dev/null | head -n 1) || true
  # Only a host name counts (not an error line or nil).
  case "$answer" in '' | *' '* | ERR* | NOAUTH* | WRONGPASS*) ;; *) primary="$answer" && break ;; esac
done
[ -n "$primary" ] || primary="$INITIAL_PRIMARY"
# The password goes in a file, not on the command line (ps shows that to everyone in the pod).
conf=/tmp/redis.conf
printf 'requirepass %s\nmasterauth %s\nappendonly yes\ndir /data\nreplica-announce-ip %s\n' \
  "$REDIS_PASSWORD" "$REDIS_PASSWORD" "$ANNOUNCE_HOST" > "$conf"
[ "$primary" = "$ANNOUNCE_HOST" ] || echo "replicaof $primary 6379" >> "$conf"
exec redis-server "$conf"
