#!/bin/sh
# sscagent postinstall (deb postinst configure, rpm %post): the service user, its
# groups, the state directory, then udev, polkit and systemd are told.
set -e

if [ "$1" = "configure" ] || [ "$1" = "1" ] || [ "$1" = "2" ] || [ -z "$1" ]; then
	if ! getent group sscagent >/dev/null; then
		groupadd --system sscagent
	fi
	if ! getent passwd sscagent >/dev/null; then
		useradd --system --gid sscagent --home-dir /var/lib/sscagent --no-create-home \
			--shell /usr/sbin/nologin --comment "sscagent terminal agent" sscagent
	fi
	# Serial scanners (dialout), keyboard-wedge scanners (input), USB devices (plugdev):
	# the groups this system has.
	for g in dialout input plugdev; do
		if getent group "$g" >/dev/null; then
			usermod --append --groups "$g" sscagent
		fi
	done
	install -d -o sscagent -g sscagent -m 0700 /var/lib/sscagent
	# The configuration and its keys: readable by the service, written by root.
	chgrp sscagent /etc/sscagent /etc/sscagent/keys /etc/sscagent/sscagent.yaml
	chmod 0750 /etc/sscagent /etc/sscagent/keys
	chmod 0640 /etc/sscagent/sscagent.yaml
	# Sealed credentials (sscagent keys seal): systemd (root) decrypts them at service
	# start and hands them to the service in $CREDENTIALS_DIRECTORY; the service user
	# never reads this directory.
	chown root:root /etc/sscagent/credentials
	chmod 0700 /etc/sscagent/credentials

	if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
		udevadm control --reload-rules || true
		udevadm trigger --subsystem-match=tty --subsystem-match=hidraw --subsystem-match=input || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		# The scanners' drivers (modules-load.d/sscagent.conf) before the service starts:
		# its device policy resolves their classes at start.
		systemctl restart systemd-modules-load.service || true
		systemctl enable sscagent.service || true
		# Package upgrades from the fleet: the root helper starts when the agent hands
		# over a verified package (docs/deploy.md, "Packaged terminals").
		systemctl enable --now sscagent-upgrade.path || true
		# Start only a configuration that can run; a fresh install waits for its keys.
		if sscagent config check --config /etc/sscagent/sscagent.yaml --files >/dev/null 2>&1; then
			systemctl try-restart pcscd.service || true
			systemctl restart sscagent.service || true
		else
			echo "sscagent: edit /etc/sscagent/sscagent.yaml and its keys, check them with" \
				"'sscagent config check --config /etc/sscagent/sscagent.yaml --files'," \
				"then 'systemctl start sscagent'" >&2
		fi
	fi
fi
exit 0
