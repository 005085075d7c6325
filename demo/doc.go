// Package demo assembles the demonstration environment behind "sscagent demo" (the
// README's main-job command) and runs the agent in it: the sandbox platform in-process
// over HTTPS with test keys, an embedded MQTT broker standing in for terminal
// management, a gate controller's HTTP hook, virtual card readers with the shared test
// cards and a virtual PSAM (cards.driver sim), and two QR scanners: the console's for
// the gate (a stdin scanner whose device the demo supplies through
// agent.Options.Scanners) and a serial scanner on a pseudo-terminal for the pharmacy
// counter. The configuration is generated into a scratch directory and loaded
// with agent.LoadConfig, so the demo runs the real configuration path, the real
// pipeline and the real stores.
//
// # Console
//
// The process's standard input is the console. Run reads it itself: a line starting
// with ':' is a demo command (:insert, :qr, :pay, :fault, :ledger, ...; see Help), anything else is a
// scanned code, handed to the gate's scanner, or to the counter's while an order waits
// there for a payment code. The flow is printed as it happens, one line per event of
// the agent's bus (masked at the source), per record or order the sandbox accepted
// (masked with records.Record.Masked) and per presence or telemetry message on the
// broker. The console never prints an e-card code, only its length.
//
// Everything listens on loopback only and is marked as test equipment: the terminal is
// a test terminal (terminal.test), which alone accepts the sandbox's keys and cards.
package demo
