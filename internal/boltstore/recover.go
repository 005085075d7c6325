package boltstore

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Recovery reports a corrupt file that was moved aside and replaced.
type Recovery struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// MovedTo is where the corrupt file now is (kept for manual recovery).
	MovedTo string `json:"movedTo"`
	// Cause is what was found wrong.
	Cause string `json:"cause"`
	// Salvaged counts the entries copied from the corrupt file into the new one.
	Salvaged int `json:"salvaged"`
	// Lost counts the buckets that could not be read completely (0: everything readable
	// was copied; the cause may still have cost the last transaction).
	Lost int `json:"lost"`
}

// recoverFile moves the corrupt file aside, opens a fresh one and copies what it can.
func recoverFile(path string, o Options, cause error) (*Recovery, *bolt.DB, error) {
	now := o.Now()
	moved := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405.000000000"))
	if err := os.Rename(path, moved); err != nil {
		return nil, nil, fmt.Errorf("boltstore: move corrupt file aside: %w (cause: %v)", err, cause)
	}
	syncDir(path)
	b, err := openChecked(path, o, false)
	if err != nil {
		return nil, nil, err
	}
	rec := &Recovery{At: now, MovedTo: moved, Cause: cause.Error()}
	rec.Salvaged, rec.Lost = salvage(moved, b)
	return rec, b, nil
}

// salvage copies every readable bucket and key of the file at from into dst. A panic or
// memory fault while reading a bucket ends that bucket's copy; what was read is kept.
func salvage(from string, dst *bolt.DB) (copied, lost int) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	src, err := func() (b *bolt.DB, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return bolt.Open(from, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	}()
	if err != nil {
		return 0, 1
	}
	defer src.Close()
	_ = dst.Update(func(out *bolt.Tx) error {
		_ = src.View(func(in *bolt.Tx) error {
			var names [][]byte
			func() {
				defer func() {
					if recover() != nil {
						lost++
					}
				}()
				_ = in.ForEach(func(name []byte, _ *bolt.Bucket) error {
					names = append(names, append([]byte(nil), name...))
					return nil
				})
			}()
			for _, name := range names {
				ob, err := out.CreateBucketIfNotExists(name)
				if err != nil {
					lost++
					continue
				}
				n, ok := copyBucket(in.Bucket(name), ob)
				copied += n
				if !ok {
					lost++
				}
			}
			return nil
		})
		return nil
	})
	return copied, lost
}

// copyBucket copies src into dst recursively; ok is false when a read failed. After a
// failure going forward it copies backwards from the end, so that one damaged page costs
// only the entries behind it.
func copyBucket(src, dst *bolt.Bucket) (n int, ok bool) {
	if src == nil {
		return 0, false
	}
	n, ok = copyEntries(src, dst, false)
	if !ok {
		m, _ := copyEntries(src, dst, true)
		n += m
	}
	if seq := src.Sequence(); seq > dst.Sequence() {
		_ = dst.SetSequence(seq)
	}
	return n, ok
}

func copyEntries(src, dst *bolt.Bucket, backwards bool) (n int, ok bool) {
	ok = true
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	c := src.Cursor()
	first, next := c.First, c.Next
	if backwards {
		first, next = c.Last, c.Prev
	}
	for k, v := first(); k != nil; k, v = next() {
		if backwards && dst.Get(k) != nil {
			break // met the part already copied going forward
		}
		if v == nil {
			sub, err := dst.CreateBucketIfNotExists(k)
			if err != nil {
				ok = false
				continue
			}
			m, subOK := copyBucket(src.Bucket(k), sub)
			n += m
			ok = ok && subOK
			continue
		}
		if dst.Put(append([]byte(nil), k...), append([]byte(nil), v...)) == nil {
			n++
		}
	}
	return n, ok
}

// Recoveries returns the recoveries recorded in this file, oldest first (at most 10).
func (d *DB) Recoveries() []Recovery {
	var recs []Recovery
	_ = d.b.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(metaBucket); m != nil {
			_ = json.Unmarshal(m.Get([]byte("recovery")), &recs)
		}
		return nil
	})
	return recs
}

// Recovered returns the recovery this Open performed, or nil when the file was sound.
func (d *DB) Recovered() *Recovery { return d.recovered }
