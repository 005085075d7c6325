package agent_test

import (
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/event"
)

// BenchmarkIdentityRead is one holder at an identity scene, end to end: a virtual card
// inserted into the sim reader, read with the virtual PSAM, authenticated by the
// sandbox platform over HTTPS on loopback, the C.3 record validated and stored with
// fsync. Besides the wall time per read it reports the time inside the card read
// (read-ns/op: the "hardware"), inside the platform call (platform-ns/op) and the rest
// (agent-ns/op): the pipeline's own overhead, of which fsync-ns/op is the queue's
// durable Put of the C.3 record.
func BenchmarkIdentityRead(b *testing.B) {
	r := newRig(b, rigOptions{Scenes: "  - name: gate\n    kind: identity\n    readers: [\"*\"]\n"})
	if err := r.a.Cards().WaitReady(b.Context()); err != nil {
		b.Fatal(err)
	}
	var read, auth, store, total time.Duration
	b.ResetTimer()
	for b.Loop() {
		seq := r.lastSeq()
		start := time.Now()
		insert(b, r, "zhangsan")
		rec := r.expectSince(seq, "record.queued")
		total += time.Since(start)
		a := r.expectSince(seq, "auth.succeeded")
		read += msDur(a, "readMs")
		auth += msDur(a, "authMs")
		store += msDur(rec, "storeMs")
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64(read/n), "read-ns/op")
	b.ReportMetric(float64(auth/n), "platform-ns/op")
	b.ReportMetric(float64(store/n), "fsync-ns/op")
	b.ReportMetric(float64((total-read-auth)/n), "agent-ns/op")
}

func msDur(e event.Event, k string) time.Duration {
	v, _ := e.Data[k].(float64)
	return time.Duration(v * float64(time.Millisecond))
}
