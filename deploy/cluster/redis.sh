#!/usr/bin/env bash
# The cluster's Redis (the durable online replay), run on the head node by ray_cluster.yaml.
#
#   bash deploy/cluster/redis.sh start   # idempotent; writes ~/.vid2act/redis.env (mode 0600)
#   bash deploy/cluster/redis.sh stop
#
# Bound to loopback and the head's private address (env actors on the workers reach it there), port 6380 (6379 is
# Ray's GCS), password required. The password comes from $VID2ACT_REDIS_PASSWORD when set, else from
# ~/.vid2act/redis.env, else a fresh random one is generated there; it never lives in the repo and never appears on
# a command line (the config file holding it is mode 0600). ~/.vid2act/redis.env also carries VID2ACT_REDIS_URL;
# the head starts Ray with it in the environment, so jobs read it (an empty replay.url means $VID2ACT_REDIS_URL).
# Same settings as the embedded server (deploy/redis_server.py): append-only, noeviction (the replay evicts itself).
set -euo pipefail

state="$HOME/.vid2act"
env_file="$state/redis.env"
data="${VID2ACT_REDIS_DIR:-$HOME/vid2act-redis}"
port="${VID2ACT_REDIS_PORT:-6380}"
maxmemory="${VID2ACT_REDIS_MAXMEMORY:-16gb}"
umask 077
mkdir -p "$state" "$data"

password="${VID2ACT_REDIS_PASSWORD:-}"
if [ -z "$password" ] && [ -f "$env_file" ]; then
  password=$(sed -n 's/^VID2ACT_REDIS_PASSWORD=//p' "$env_file")
fi
[ -n "$password" ] || password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
private_ip=$(hostname -I | awk '{print $1}')

cli() { REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" "$@"; }

case "${1:-start}" in
  start)
    cat > "$data/redis.conf" <<EOF
bind 127.0.0.1 $private_ip
port $port
protected-mode yes
requirepass "$password"
dir "$data"
logfile "redis.log"
pidfile "$data/redis.pid"
daemonize yes
save ""
appendonly yes
appendfsync everysec
maxmemory $maxmemory
maxmemory-policy noeviction
EOF
    cat > "$env_file" <<EOF
VID2ACT_REDIS_PASSWORD=$password
VID2ACT_REDIS_URL=redis://:$password@$private_ip:$port/0
EOF
    if cli ping >/dev/null 2>&1; then
      echo "redis: already running on $private_ip:$port"
      exit 0
    fi
    redis-server "$data/redis.conf"
    for _ in $(seq 50); do cli ping >/dev/null 2>&1 && { echo "redis: up on $private_ip:$port"; exit 0; }; sleep 0.2; done
    echo "redis: did not answer on port $port; see $data/redis.log" >&2
    exit 1
    ;;
  stop)
    cli shutdown >/dev/null 2>&1 || true
    echo "redis: stopped"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
