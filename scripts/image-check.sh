#!/usr/bin/env bash
# npm run image:check — builds the image from the Containerfile with podman and runs
# tests/kubernetes.e2e.test.ts with every pod a container of it (read-only root, no
# capabilities, the image's user), through a confirmed checkout and a drain.
#
# Not part of `npm test`: it needs root, podman (Debian's), and a Node 24 base image.
# NODE_IMAGE names one to use (default: docker.io/library/node:24-bookworm-slim when
# it can be pulled). Where no registry is reachable, BAZAAR_LOCAL_BASE=1 builds an
# equivalent base instead: Debian bookworm from debootstrap, this checkout's Node 24
# (the npm `node` package) and npm, a user 1000, and the host's CA bundle when
# NODE_EXTRA_CA_CERTS says the host needs one. It is cached in .bazaar/image-base.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-localhost/bazaar:check}"
NODE_IMAGE="${NODE_IMAGE:-docker.io/library/node:24-bookworm-slim}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "image:check: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need podman podman

# Hosts without a systemd cgroup manager, on cgroup v1 or hybrid (VMs, CI sandboxes), and
# with hard rlimits below podman's defaults: runc over cgroupfs, limits the host allows.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="$PWD/.bazaar/image-check.containers.conf"
  mkdir -p .bazaar
  nofile=$(( $(ulimit -Hn) < 65536 ? $(ulimit -Hn) : 65536 ))
  cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
  need runc runc
fi

if [ "${BAZAAR_LOCAL_BASE:-0}" = 1 ]; then
  need debootstrap debootstrap
  NODE_IMAGE=localhost/bazaar-node-base:24
  base=.bazaar/image-base/rootfs
  if ! podman image exists "$NODE_IMAGE"; then
    if [ ! -x "$base/bin/sh" ]; then
      echo "image:check: debootstrap bookworm into $base"
      rm -rf "$base" && mkdir -p "$base"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$base" http://deb.debian.org/debian >/dev/null
    fi
    mkdir -p "$base/usr/local/bin" "$base/usr/local/lib/node_modules"
    cp node_modules/node/bin/node "$base/usr/local/bin/node"
    rm -rf "$base/usr/local/lib/node_modules/npm"
    # The npm running this script (npm run sets npm_execpath to its CLI).
    npm_dir="$(cd "$(dirname "$(readlink -f "${npm_execpath:-$(command -v npm)}")")/.." && pwd)"
    cp -r "$npm_dir" "$base/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$base/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$base/usr/local/bin/npx"
    chroot "$base" /bin/sh -c 'id node >/dev/null 2>&1 || { groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/sh node; }'
    changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]')
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
      cp "$NODE_EXTRA_CA_CERTS" "$base/usr/local/share/host-ca.crt"
      changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca.crt')
    fi
    tar -C "$base" -c . | podman import "${changes[@]}" - "$NODE_IMAGE" >/dev/null
  fi
fi

echo "image:check: building $IMAGE from Containerfile on $NODE_IMAGE"
started=$(date +%s)
podman build --quiet --isolation chroot --network host --build-arg "NODE_IMAGE=$NODE_IMAGE" -t "$IMAGE" -f Containerfile . >/dev/null
echo "image:check: built in $(( $(date +%s) - started )) s, $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{ printf "%.0f MB", $1 / 1e6 }')"

echo "image:check: running deploy/kubernetes/bazaar.yaml's pods as containers of $IMAGE"
KUBERNETES_TEST_IMAGE="$IMAGE" npm exec -- node --test --test-reporter=spec \
  --test-global-setup=packages/runtime/src/testing/global-setup.ts tests/kubernetes.e2e.test.ts
