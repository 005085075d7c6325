// Package demo assembles the demonstration environment behind "sscagent demo" (the
// README's main-job command): the sandbox platform in-process, an embedded MQTT broker
// standing in for terminal management, a virtual reader with a virtual card, and stdin as
// a QR scanner, with a generated configuration and test keys in a scratch directory.
// Everything it starts listens on loopback only and is marked as test equipment.
package demo
