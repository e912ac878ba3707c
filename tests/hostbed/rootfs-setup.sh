#!/bin/bash
# Runs inside the fresh rootfs (chroot) to make it a test host.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

update-ca-certificates >/dev/null
# Each container gets its own machine id at boot; SSH host keys are made on first boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
# root's user manager lingers: stopping it after an SSH session hangs in these containers
# (cgroups v1 hybrid: deactivating, final-sigkill, for minutes), and the next SSH session
# waits for that stop. With linger it is never stopped.
mkdir -p /var/lib/systemd/linger
: >/var/lib/systemd/linger/root
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
cat >/etc/systemd/system/ssh.service.d/hostkeys.conf <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
# Units that have nothing to do in a container and only add noise or failures.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
  systemd-udev-trigger.service systemd-remount-fs.service systemd-modules-load.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
echo hostbed >/etc/hostname
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*
