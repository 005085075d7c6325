// Package queue is sscagent's durable record queue (spec 5.4.1.3 数据回流): every business
// record (C.3 办事凭证, C.4 支付结算, C.5 待遇发放) and every telemetry item waits here, on
// disk, until the platform acknowledges it. It is a bbolt file in the state directory.
//
// # Guarantees
//
//   - Put returns only after the record is fsynced. Concurrent Puts share one transaction
//     and one fsync (group commit, no timer), so throughput grows with load while a lone
//     writer pays one fsync.
//   - Keys are persisted sequence numbers, never clock readings. Each record gets a stable
//     id, terminal id + "-" + sequence (16 digits, zero-padded), that travels with it so the
//     platform de-duplicates a record sent again after a crash. A sequence number is never
//     reused, not even after the file is lost (see internal/boltstore).
//   - Lanes: money (C.4, C.5) and identity (C.3) records are never dropped. When the cap
//     is reached, new business is refused with a *FullError (ErrFull; the local API answers
//     507) and nothing is lost. Telemetry may be dropped, oldest first, to make room.
//   - Records are deleted only by Ack (the platform's business acknowledgement). Records
//     the platform rejects for good go to quarantine with the reason, where an operator
//     lists, exports and re-queues them.
//   - Record bodies are encrypted at rest with SM4-GCM under a local key (a 32-hex-digit key
//     file, like the platform's sm4Key), bound to their lane and sequence number; they
//     leave the disk with Ack. A file opened with a different key is refused (ErrWrongKey)
//     rather than having every record fail to decrypt.
//   - Open checks the file's integrity; a corrupt file is moved aside, what is readable is
//     copied into a fresh one, and the recovery shows in Stats. It never crash-loops.
//   - PutIdempotent takes a client's idempotency key: the same key and record again stores
//     nothing and returns the first record's id, also after its acknowledgement, for a day
//     by default; the key in the same transaction as the record, so a crash never
//     separates them.
//
// # Bucket layout (schema version 2)
//
//	meta/                          internal/boltstore: schema, created, seq.record, recovery
//	lane.money/     seq -> record  C.4 payment, C.5 benefit: never dropped
//	lane.identity/  seq -> record  C.3 credential: never dropped
//	lane.telemetry/ seq -> record  events, metrics: oldest dropped at its budget or the cap
//	quarantine/     seq -> qrecord permanently rejected records, with reason and time
//	idem/           hkey -> idem   idempotency keys (version 2)
//	idem.age/       seq || hkey -> (empty): the keys oldest first, for pruning (version 2)
//	qmeta/
//	  keycheck      -> sealed constant, to detect a wrong key at Open
//	  bytes.LANE    -> uint64 BE   bytes held by the lane (key + value + 16)
//	  count.LANE    -> uint64 BE   records in the lane
//	  bytes.quarantine, count.quarantine
//	  count.idem    -> uint64 BE   idempotency keys remembered
//	  dropped.telemetry -> uint64 BE telemetry records dropped for room, ever
//
// hkey is HMAC-SM3 of the client's key under a key derived from the queue key (the
// client's key may be personal data); idem is created(8, unix ms) seq(8) fingerprint(32)
// id, the fingerprint being HMAC-SM3 of lane, kind and body. Version 1 files are upgraded
// at Open by creating the two buckets.
//
// seq is the 8-byte big-endian sequence number, so a cursor walks each lane oldest first.
// A record value is
//
//	format(1)=1 lane(1) flags(1) created(8, unix ms) attempts(4)
//	uvarint len + kind, uvarint len + id, uvarint len + last error, body
//
// where flags bit 0 means the body is sealed: nonce(12) || SM4-GCM ciphertext || tag(16),
// with additional data "sscq" || lane || seq. A quarantined value is
//
//	format(1)=1 quarantined(8, unix ms) uvarint len + reason, record value
//
// docs/queue.md describes lanes, the cap, crash semantics and quarantine handling.
package queue
