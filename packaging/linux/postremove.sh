#!/bin/sh
# sscagent postremove (deb postrm, rpm %postun). Remove keeps the state directory
# (/var/lib/sscagent: queued records, payment states, last-known-good configuration);
# purge (deb only) deletes it with the configuration's keys and the service user.
set -e
case "$1" in
purge)
	rm -rf /var/lib/sscagent /etc/sscagent
	if getent passwd sscagent >/dev/null; then
		userdel sscagent || true
	fi
	if getent group sscagent >/dev/null; then
		groupdel sscagent || true
	fi
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
