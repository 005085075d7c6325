package queue

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm3"
	bolt "go.etcd.io/bbolt"
)

// Idempotency keys let a client that did not get the answer to a Put send it again
// without storing the record twice (the local API's Idempotency-Key header on
// POST /v1/records). A key is remembered with the id of the record it stored and a
// fingerprint of the entry, in the same transaction as the record, so a crash can never
// separate them; it outlives the record's acknowledgement by the platform, until
// Options.IdempotencyTTL has passed or Options.MaxIdempotencyKeys newer keys exist.
//
// At rest neither the key nor the entry appears: both are HMAC-SM3 values under a key
// derived from the queue key, because an application may choose a key that is personal
// data and the entry is a business record.
var (
	idemBucket    = []byte("idem")
	idemAgeBucket = []byte("idem.age")
)

// MaxIdempotencyKeyLen bounds an idempotency key.
const MaxIdempotencyKeyLen = 64

// idemPrunePerPut bounds the expired keys one Put removes, so that a Put after a long
// pause does not turn into a long transaction; the rest go with the next Puts.
const idemPrunePerPut = 64

// idemValue is created(8, unix ms) seq(8) fingerprint(32) id.
type idemValue struct {
	created int64
	seq     uint64
	fp      [32]byte
	id      string
}

func (v idemValue) encode() []byte {
	b := make([]byte, 0, 48+len(v.id))
	b = binary.BigEndian.AppendUint64(b, uint64(v.created))
	b = binary.BigEndian.AppendUint64(b, v.seq)
	b = append(b, v.fp[:]...)
	return append(b, v.id...)
}

func decodeIdem(b []byte) (idemValue, bool) {
	if len(b) < 48 {
		return idemValue{}, false
	}
	v := idemValue{created: int64(binary.BigEndian.Uint64(b)), seq: binary.BigEndian.Uint64(b[8:]), id: string(b[48:])}
	copy(v.fp[:], b[16:48])
	return v, true
}

// idemKeyer computes the stored forms of keys and entries.
type idemKeyer struct{ key []byte }

func newIdemKeyer(queueKey []byte) idemKeyer {
	k := sm3.Sum(append([]byte("sscagent queue idempotency v1\x00"), queueKey...))
	return idemKeyer{key: k[:]}
}

func (k idemKeyer) mac(parts ...[]byte) [32]byte {
	h := hmac.New(sm3.New, k.key)
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (k idemKeyer) storedKey(key string) []byte {
	s := k.mac([]byte("key"), []byte(key))
	return s[:]
}

func (k idemKeyer) fingerprint(e Entry) [32]byte {
	return k.mac([]byte("entry"), []byte{byte(e.Lane)}, []byte(e.Kind), e.Body)
}

func validIdemKey(key string) error {
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: idempotency key must be 1-%d characters", ErrInvalid, MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("%w: idempotency key must be printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

// lookupIdem returns the record a key stored before. A key stored for another entry is
// ErrConflict.
func (q *Queue) lookupIdem(tx *bolt.Tx, sk []byte, fp [32]byte) (id string, found bool, err error) {
	v, ok := decodeIdem(tx.Bucket(idemBucket).Get(sk))
	if !ok {
		return "", false, nil
	}
	if q.idemExpired(v) {
		return "", false, nil // expired, not pruned yet: it is replaced
	}
	if !hmac.Equal(v.fp[:], fp[:]) {
		return "", false, fmt.Errorf("%w: it stored record %s, which differs from this one", ErrConflict, v.id)
	}
	return v.id, true, nil
}

// storeIdem remembers sk for the record seq and prunes keys past their time or the count.
func (q *Queue) storeIdem(tx *bolt.Tx, sk []byte, v idemValue) error {
	b, age, m := tx.Bucket(idemBucket), tx.Bucket(idemAgeBucket), tx.Bucket(qmetaBucket)
	if old, ok := decodeIdem(b.Get(sk)); ok {
		if err := age.Delete(ageKey(old.seq, sk)); err != nil {
			return err
		}
		if err := countIdem(m, -1); err != nil {
			return err
		}
	}
	if err := b.Put(sk, v.encode()); err != nil {
		return err
	}
	if err := age.Put(ageKey(v.seq, sk), nil); err != nil {
		return err
	}
	if err := countIdem(m, 1); err != nil {
		return err
	}
	return q.pruneIdem(tx, idemPrunePerPut)
}

// idemExpired reports whether a remembered key is past Options.IdempotencyTTL.
func (q *Queue) idemExpired(v idemValue) bool {
	return q.now().Sub(time.UnixMilli(v.created)) > q.o.IdempotencyTTL
}

// countIdem changes the count of remembered keys (qmeta count.idem) by delta.
func countIdem(m *bolt.Bucket, delta int64) error {
	return putU64(m, "count.idem", uint64(max(int64(getU64(m, "count.idem"))+delta, 0)))
}

func ageKey(seq uint64, sk []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), sk...)
}

// pruneIdem removes up to limit keys, oldest first, that are past their time or beyond
// the count.
func (q *Queue) pruneIdem(tx *bolt.Tx, limit int) error {
	b, age, m := tx.Bucket(idemBucket), tx.Bucket(idemAgeBucket), tx.Bucket(qmetaBucket)
	count := int64(getU64(m, "count.idem"))
	c := age.Cursor()
	for k, _ := c.First(); k != nil && limit > 0; k, _ = c.First() {
		sk := k[8:]
		v, ok := decodeIdem(b.Get(sk))
		if ok && v.seq == binary.BigEndian.Uint64(k) && count <= int64(q.o.MaxIdempotencyKeys) &&
			!q.idemExpired(v) {
			return nil // the oldest is still valid, so are the rest
		}
		if err := age.Delete(k); err != nil {
			return err
		}
		if ok && v.seq == binary.BigEndian.Uint64(k) {
			if err := b.Delete(sk); err != nil {
				return err
			}
			count--
			if err := countIdem(m, -1); err != nil {
				return err
			}
		}
		limit--
	}
	return nil
}
