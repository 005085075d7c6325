package sysservice

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Packaged is the service the .deb and .rpm install: packaging/linux/sscagent.service is
// Unit(Packaged), and `sscagent service install --user sscagent --config
// /etc/sscagent/sscagent.yaml` run with /usr/bin/sscagent writes the same file.
var Packaged = Spec{
	Executable: "/usr/bin/sscagent",
	ConfigPath: "/etc/sscagent/sscagent.yaml",
	User:       "sscagent",
}

// DefaultStateDir is the state directory systemd's StateDirectory=sscagent creates.
const DefaultStateDir = "/var/lib/sscagent"

// WatchdogSec is the unit's WatchdogSec=: systemd kills and restarts an agent whose
// supervision loop has not pinged for this long (the agent pings at half of it).
const WatchdogSec = 30

// deviceAllow are the device classes the agent opens itself (pcscd opens the readers
// for it; char-usb_device is there for readers that a driver talks to through libusb
// in-process). Classes, not nodes, so a replugged device under a new node still works.
var deviceAllow = []string{
	"char-usb_device rw", // USB readers (libusb)
	"char-hidraw rw",     // HID POS scanners
	"char-input r",       // keyboard-wedge scanners (evdev; the grab needs only read)
	"char-ttyACM rw",     // USB CDC scanners
	"char-ttyUSB rw",     // USB-serial scanners, relay boards
	"char-ttyS rw",       // RS-232 scanners and gates
}

// Unit renders the systemd unit of s: the one source of the unit, written by `service
// install` (handed to kardianos/service as a finished SystemdScript, which it copies
// verbatim since it holds no template action) and by the packages.
//
// Type=notify: READY=1 once every part is up, WATCHDOG=1 from the supervision loop.
// The sandbox: a read-only system except the state directory, no capabilities, no
// new privileges, only the address families and device classes the agent uses, and
// @system-service system calls. PrivateDevices stays off: it would hide the tty, input
// and hidraw nodes the scanners need; DevicePolicy=closed with DeviceAllow= lets through
// only their classes.
func Unit(s Spec) (string, error) {
	c, err := s.resolve()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("[Unit]")
	line("Description=%s", Description)
	line("Documentation=https://github.com/sscagent/sscagent/blob/main/docs/deploy.md")
	line("ConditionFileIsExecutable=%s", unitQuote(c.Executable))
	line("After=network-online.target pcscd.service pcscd.socket")
	line("Wants=network-online.target pcscd.socket")
	line("")
	line("[Service]")
	line("Type=notify")
	line("NotifyAccess=main")
	exec := []string{unitQuote(c.Executable)}
	for _, a := range c.arguments() {
		exec = append(exec, unitQuote(a))
	}
	line("ExecStart=%s", strings.Join(exec, " "))
	// systemctl reload: SIGHUP re-reads the configuration (the agent sends RELOADING=1,
	// then READY=1 once it is applied).
	line("ExecReload=/bin/kill -HUP $MAINPID")
	if c.User != "" {
		// The user's groups (dialout, input, plugdev: the package's postinst adds
		// them) come with User=.
		line("User=%s", c.User)
		line("Group=%s", c.User)
	}
	line("Restart=on-failure")
	line("RestartSec=5")
	line("TimeoutStartSec=90")
	line("TimeoutStopSec=30")
	line("WatchdogSec=%d", WatchdogSec)
	line("KillMode=mixed")
	line("LimitNOFILE=8192")
	line("StandardOutput=journal")
	line("StandardError=journal")
	line("SyslogIdentifier=%s", Name)
	line("StateDirectory=%s", Name)
	line("StateDirectoryMode=0700")
	line("ConfigurationDirectory=%s", Name)
	// The package's postinstall makes /etc/sscagent root:sscagent 0750; systemd logs a
	// warning at every start when the mode it is given differs.
	line("ConfigurationDirectoryMode=0750")
	line("RuntimeDirectory=%s", Name)
	line("RuntimeDirectoryMode=0750")
	line("UMask=0077")
	// Sealed keys are site-specific: a drop-in hands them over, so a unit without
	// them still starts (LoadCredentialEncrypted= of a missing file fails the start).
	line("# Keys off the disk (docs/deploy.md, \"Keys off the disk\"): `sscagent keys seal --name")
	line("# NAME --in FILE` seals a key into /etc/sscagent/credentials/NAME.cred (systemd-creds,")
	line("# bound to the TPM2 where present) and prints its LoadCredentialEncrypted=NAME:... line")
	line("# for a drop-in (systemctl edit sscagent); the configuration names it credential:NAME.")
	line("# systemd decrypts it at start into $CREDENTIALS_DIRECTORY, private to this service.")
	if c.StateDir != "" && filepath.Clean(c.StateDir) != DefaultStateDir {
		line("ReadWritePaths=%s", unitQuote(c.StateDir))
	}
	line("ProtectSystem=strict")
	line("ProtectHome=yes")
	line("PrivateTmp=yes")
	// Implied by the settings above on a running service; explicit so that the offline
	// `systemd-analyze security` scores the unit as systemd runs it.
	line("PrivateMounts=yes")
	line("NoNewPrivileges=yes")
	line("CapabilityBoundingSet=")
	line("AmbientCapabilities=")
	line("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")
	line("DevicePolicy=closed")
	for _, d := range deviceAllow {
		line("DeviceAllow=%s", d)
	}
	line("ProtectKernelTunables=yes")
	line("ProtectKernelModules=yes")
	line("ProtectKernelLogs=yes")
	line("ProtectControlGroups=yes")
	line("ProtectClock=yes")
	line("ProtectHostname=yes")
	line("ProtectProc=invisible")
	line("ProcSubset=pid")
	line("RestrictNamespaces=yes")
	line("RestrictRealtime=yes")
	line("RestrictSUIDSGID=yes")
	line("LockPersonality=yes")
	line("MemoryDenyWriteExecute=yes")
	line("RemoveIPC=yes")
	line("SystemCallArchitectures=native")
	line("SystemCallFilter=@system-service")
	line("SystemCallFilter=~@privileged")
	line("SystemCallErrorNumber=EPERM")
	line("")
	line("[Install]")
	line("WantedBy=multi-user.target")
	return b.String(), nil
}

// unitQuote quotes one ExecStart word or path for systemd: specifiers (%) and
// variables ($) are doubled, and a word with blanks, quotes or backslashes is put in
// double quotes with C escapes.
func unitQuote(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
