#!/bin/sh
# One of three sentinels (quorum 2) watching the Redis primary by name (REDIS_MASTER_NAME, mymaster).
# A restarted sentinel learns the current primary from its peers; only a fresh group starts from INITIAL_PRIMARY.
set -eu
: "${REDIS_PASSWORD:?}" "${ANNOUNCE_HOST:?}" "${INITIAL_PRIMARY:?}"
name="${MASTER_NAME:-mymaster}"
primary=""
for sentinel in ${SENTINEL_HOSTS:-}; do
  [ "$sentinel" = "$ANNOUNCE_HOST" ] && continue
  answer=$(REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$sentinel" -p 26379 sentinel get-master-addr-by-name "$name" 2>/dev/null | head -n 1) || true
  case "$answer" in '' | *' '* | ERR* | NOAUTH* | WRONGPASS*) ;; *) primary="$answer" && break ;; esac
done
[ -n "$primary" ] || primary="$INITIAL_PRIMARY"
# Sentinel rewrites its own config file (what it learned): it must be writable, so it is made here.
conf=/data/sentinel.conf
cat > "$conf" <<CONF
port 26379
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $ANNOUNCE_HOST
requirepass $REDIS_PASSWORD
sentinel sentinel-pass $REDIS_PASSWORD
sentinel monitor $name $primary 6379 2
sentinel auth-pass $name $REDIS_PASSWORD
sentinel down-after-milliseconds $name 5000
sentinel failover-timeout $name 30000
CONF
exec redis-server "$conf" --sentinel
