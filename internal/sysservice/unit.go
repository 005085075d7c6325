package sysservice

// systemdUnit is the unit kardianos/service renders on install, in its own small
// template syntax ({{Key}}, {{Key | fn}}, {{if Key}}, {{range Key}}).
// Type=notify: the agent sends READY=1 once every part has started. StateDirectory holds
// the durable queue; device access comes from the dialout and plugdev groups (serial
// scanners, HID wedges) and pcscd's socket (card readers). PrivateDevices stays off: it
// would hide the tty and input nodes the scanners need.
const systemdUnit = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
{{range Dependencies}}{{.}}
{{end}}
[Service]
Type=notify
NotifyAccess=main
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if WorkingDirectory}}WorkingDirectory={{WorkingDirectory | cmdEscape}}
{{end}}{{if UserName}}User={{UserName}}
SupplementaryGroups=dialout plugdev
{{end}}StateDirectory=sscagent
StateDirectoryMode=0700
{{if LimitNOFILE}}LimitNOFILE={{LimitNOFILE}}
{{end}}{{if Restart}}Restart={{Restart}}
{{end}}{{if SuccessExitStatus}}SuccessExitStatus={{SuccessExitStatus}}
{{end}}RestartSec=5
TimeoutStopSec=30
KillMode=mixed
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`
