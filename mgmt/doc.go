// Package mgmt is the terminal's session with terminal management (终端管理, spec 9.3)
// over MQTT 3.1.1: presence with session epochs, telemetry, events, remote
// configuration (desired/reported, applied through mgmt/rollout) and commands. The wire
// protocol is specified in docs/mgmt-protocol.md; the fleet side is mgmt/fleet.
//
// # Topics
//
// Every topic is under {prefix}/{terminalId}/ (prefix default "ssc/v1/terminals"):
//
//	state             retained, QoS 1   birth (online) / will and clean stop (offline), with the epoch
//	telemetry         retained, QoS 0   health, devices, queue, platform link, process, link counters
//	events            QoS 1             the event bus (masked), configuration results
//	config/desired    retained, QoS 1   from managers: a versioned configuration overlay
//	config/reported   retained, QoS 1   version, status, reason, every problem, committed version
//	cmd/{id}          QoS 1             from managers: a command request (retained ones are ignored)
//	cmd/{id}/result   QoS 1             the answer, exactly one per command id
//
// # Sessions and epochs
//
// Session.Run owns the connection and reconnects by itself: each connection gets a new
// epoch (persisted in the state dir before CONNECT), registered in the will and sent in
// the birth, so a consumer can tell a stale death (an older epoch than the last birth)
// from a real one. On every connection the session resubscribes (whether or not the
// broker kept the session), receives the retained desired configuration and publishes
// its birth before anything else. After a lost connection the first attempt waits a
// random time (reconnect.firstDelayMax), later ones back off with full jitter. A clean
// stop publishes offline with the epoch, then disconnects.
//
// # Delivery
//
// Outgoing messages wait in a bounded outbox while offline, in three lanes sent in
// priority order: results (command results, configuration reports), events, telemetry.
// A full lane drops its oldest message and counts it (telemetry "link.dropped"). Every
// string in events, results and configuration reports goes through mask.Text, and the
// free-text fields of telemetry too, so personal data never leaves unmasked.
package mgmt
