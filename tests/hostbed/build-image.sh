#!/usr/bin/env bash
# Build the test-host image locally (debootstrap, no registry) and import it into podman.
# Tagged with a hash of its recipe: a machine builds it once and reuses it after that.
# Usage: build-image.sh [SUITE]: Debian 12 (bookworm, the default) as localhost/ccprov-hostbed,
# another suite (trixie: the workstation scenario's second host) as localhost/ccprov-hostbed-SUITE.
# Prints the image name on the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
suite=${1:-bookworm}
name=localhost/ccprov-hostbed
[ "$suite" = bookworm ] || name=$name-$suite
mirror=${HOSTBED_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,libpam-systemd,dbus,python3,python3-venv,python3-pip,sudo,bash,zsh,openssh-server,curl,ca-certificates,iproute2,procps,less

# Everything that shapes the image goes into its tag.
recipe=$(
  cat "$0" "$here/rootfs-setup.sh"
  echo "$suite $mirror $packages"
  cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
  cat /etc/pip.conf 2>/dev/null || true
)
tag=$(printf '%s' "$recipe" | sha256sum | cut -c1-12)
image="$name:$tag"

# One build at a time: 00-setup starts one in the background, 30-hostbed-image waits here for
# it (then reuses its image) or builds itself if that one failed; likewise Debian 13's, built
# beside the role scenarios, and the scenario that needs it.
exec 9>/var/tmp/ccprov-hostbed.lock
flock 9

if podman image exists "$image"; then
  echo "hostbed: reusing $image" >&2
  podman tag "$image" "$name:latest"
  echo "$image"
  exit 0
fi

start=$SECONDS
work=$(mktemp -d /var/tmp/ccprov-hostbed.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
echo "hostbed: debootstrap $suite from $mirror (about a minute)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  echo "hostbed: debootstrap failed (log above)" >&2
  exit 1
}
echo "hostbed: debootstrap took $((SECONDS - start))s" >&2

# The host's CA certificates and pip settings, so pip inside the hosts reaches PyPI the
# way this machine does.
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
cp "$here/rootfs-setup.sh" "$root/tmp/rootfs-setup.sh"
chroot "$root" /bin/bash /tmp/rootfs-setup.sh
rm -f "$root/tmp/rootfs-setup.sh"

tar -C "$root" --numeric-owner -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENV container=podman' \
  - "$image" >/dev/null
podman tag "$image" "$name:latest"
# Older images of this recipe family are garbage now.
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$name:" | grep -v -e ":$tag\$" -e ':latest$' |
  xargs -r podman rmi >/dev/null 2>&1 || true
echo "hostbed: built $image in $((SECONDS - start))s" >&2
echo "$image"
