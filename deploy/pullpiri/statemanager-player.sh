#!/bin/sh
# Runs this StateManager in Pullpiri's pullpiri-player pod in place of Pullpiri's own
# pullpiri-statemanager, with the environment and mounts Pullpiri's
# containers/scripts/pullpiri-player.sh gives its containers, and a volume for the embedded
# store. Run as root on the master node, after Pullpiri's install:
#
#   deploy/pullpiri/statemanager-player.sh [MASTER_IP]
#
# STATEMANAGER_IMAGE names the image (default localhost/statemanager:latest, as loaded from
# `cargo xtask dist`'s archive with `podman load -i`); STATEMANAGER_ARGS adds daemon flags,
# e.g. "--etcd-endpoints http://10.0.0.1:2379" to keep states in etcd.
set -eu

MASTER_IP="${1:-$(hostname -I | awk '{print $1}')}"
IMAGE="${STATEMANAGER_IMAGE:-localhost/statemanager:latest}"
DATA=/var/lib/statemanager

if ! podman pod exists pullpiri-player; then
    podman pod create --name pullpiri-player --network host --pid host
fi
podman rm -f pullpiri-statemanager >/dev/null 2>&1 || true
mkdir -p "$DATA"
# The image runs as uid 65532.
chown 65532:65532 "$DATA"

# shellcheck disable=SC2086 # STATEMANAGER_ARGS is a list of flags
podman run -d \
    --pod pullpiri-player \
    --name pullpiri-statemanager \
    -e ROCKSDB_SERVICE_URL="http://${MASTER_IP}:47007" \
    -v /etc/pullpiri/settings.yaml:/etc/pullpiri/settings.yaml:Z \
    -v /run/pullpirilog/:/run/pullpirilog/ \
    -v "$DATA":/var/lib/statemanager:Z \
    "$IMAGE" ${STATEMANAGER_ARGS:-}

echo "pullpiri-statemanager now runs $IMAGE; its log: podman logs pullpiri-statemanager"
