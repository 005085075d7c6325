#!/bin/sh
# sscagent preremove (deb prerm, rpm %preun): stop and disable the service on removal,
# not on upgrade (the postinstall of the new version restarts it).
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now sscagent.service || true
		systemctl disable --now sscagent-upgrade.path || true
	fi
	;;
esac
exit 0
