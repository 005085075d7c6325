package demo_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/queue/backflow/backflowtest"
	"github.com/sscagent/sscagent/records"
)

// platformSubmitter flows records back through the platform client (the agent's path:
// SM4-encrypted records in a signed envelope).
type platformSubmitter struct{ c *platform.Client }

func (s platformSubmitter) Submit(ctx context.Context, items []backflow.Item) ([]backflow.Ack, error) {
	recs := make([]platform.BackflowRecord, len(items))
	for i, it := range items {
		recs[i] = platform.BackflowRecord{RecordID: it.ID, Kind: it.Kind, Record: it.Body}
	}
	acks, err := s.c.SubmitRecords(ctx, recs)
	if err != nil {
		return nil, err
	}
	out := make([]backflow.Ack, len(acks))
	for i, a := range acks {
		out[i] = backflow.Ack{ID: a.RecordID, Status: backflow.Rejected, Reason: a.Reason}
		switch a.Status {
		case platform.RecordAccepted:
			out[i].Status = backflow.Accepted
		case platform.RecordDuplicate:
			out[i].Status = backflow.Duplicate
		}
	}
	return out, nil
}

// credential is a valid C.3 record of 张三 authenticated at the demo terminal.
func credential(b testing.TB, i int) []byte {
	t := time.Date(2026, 11, 24, 9, 0, 0, 0, time.Local).Add(time.Duration(i) * time.Second)
	r := &records.Credential{AccessNo: platformsim.DefaultChannel, CredentialType: "电子社会保障卡二维码扫码认证",
		RegionCode: "350100", Scene: "人力资源和社会保障应用/个人凭社会保障卡就业登记", InstitutionName: "示例市人力资源和社会保障局",
		AuthTime: records.FormatDateTime(t), BusinessTime: records.FormatDateTime(t), BusinessStatus: "成功",
		SocialSecurityNo: "350102199003077898", Name: "张三"}
	body, err := records.Encode(r)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkDrainSandbox measures the backflow uploader draining a backlog of b.N C.3
// records from the durable queue to the sandbox platform over HTTPS, the demo's path:
// read and decrypt oldest first, SM4-encrypt each record for the platform, sign the
// envelope (SM2), the sandbox verifies, decrypts, validates each record with package
// records, de-duplicates and signs its answer, the client verifies it, and the
// acknowledged records are deleted (fsync). No rate limit.
//
//	go test ./demo/ -run XXX -bench DrainSandbox -benchtime 3000x -count 3
func BenchmarkDrainSandbox(b *testing.B) {
	for _, tc := range []struct{ batch, conc int }{{50, 2}, {100, 1}, {100, 4}} {
		b.Run(fmt.Sprintf("https/batch-%d-conc-%d", tc.batch, tc.conc), func(b *testing.B) {
			dir := b.TempDir()
			sb, err := platformsim.Start(context.Background(), filepath.Join(dir, "sandbox"),
				platformsim.StartOptions{Options: platformsim.Options{HSM: cardsim.HSM{}}, TestKeys: true})
			if err != nil {
				b.Fatal(err)
			}
			defer sb.Close()
			pc, err := platform.New(sb.ClientConfig(platformsim.DefaultChannel, true),
				platform.Options{TerminalID: "SSC-BENCH-01", AllowTestKeys: true})
			if err != nil {
				b.Fatal(err)
			}
			key, err := queue.LoadKey(config.SecretFile(filepath.Join(dir, "queue.key")), true)
			if err != nil {
				b.Fatal(err)
			}
			q, err := queue.Open(filepath.Join(dir, queue.FileName), queue.Options{Terminal: "SSC-BENCH-01", Key: key, MaxBytes: 4 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			backflowtest.Fill(b, q, b.N, func(i int) queue.Entry {
				return queue.Entry{Lane: queue.LaneIdentity, Kind: string(records.KindCredential), Body: credential(b, i)}
			})
			c := backflow.DefaultConfig()
			c.BatchSize, c.Concurrency, c.RatePerSecond, c.Burst = tc.batch, tc.conc, 100000, 100000
			c.Interval = config.Duration(10 * time.Millisecond)
			u, err := backflow.New(backflow.Options{Store: q, Submitter: platformSubmitter{pc}, Config: c})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			start := time.Now()
			go func() { _ = u.Run(ctx); close(done) }()
			for {
				st, err := q.Stats()
				if err != nil {
					b.Fatal(err)
				}
				if st.Lanes[queue.LaneIdentity].Depth == 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			if n := len(sb.Ledger().Records); n != b.N {
				b.Fatalf("the sandbox stored %d of %d records", n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}
