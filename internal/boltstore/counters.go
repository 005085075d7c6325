package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReserveBlock is how far above the last handed-out number the sidecar mark is set.
const ReserveBlock = 1 << 16

// raiseCounters sets every salvaged counter to at least its sidecar mark: the salvaged
// value may predate the corruption's lost transactions.
func (d *DB) raiseCounters(m *bolt.Bucket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, mark := range d.reserved {
		key := []byte("seq." + name)
		if v := m.Get(key); v == nil || binary.BigEndian.Uint64(pad8(v)) < mark {
			if err := m.Put(key, binary.BigEndian.AppendUint64(nil, mark)); err != nil {
				return err
			}
		}
	}
	return nil
}

func pad8(v []byte) []byte {
	if len(v) == 8 {
		return v
	}
	return make([]byte, 8)
}

// Next returns the next value of the named counter, inside a write transaction of
// Update. Values are never reused (see the package documentation).
func (d *DB) Next(tx *bolt.Tx, name string) (uint64, error) {
	m := tx.Bucket(metaBucket)
	if m == nil {
		return 0, errors.New("boltstore: no meta bucket")
	}
	key := []byte("seq." + name)
	var cur uint64
	if v := m.Get(key); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	} else {
		cur = d.floor(name)
	}
	n := cur + 1
	if err := d.reserve(name, n); err != nil {
		return 0, err
	}
	if err := m.Put(key, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return 0, err
	}
	return n, nil
}

// FormatID writes a counter value as a stable id: prefix + "-" + 16 zero-padded digits
// (record ids and order numbers: terminal id + sequence).
func FormatID(prefix string, n uint64) string {
	return prefix + "-" + fmt.Sprintf("%016d", n)
}

// Peek returns the last value handed out by the named counter (0 if none yet).
func Peek(tx *bolt.Tx, name string) uint64 {
	if m := tx.Bucket(metaBucket); m != nil {
		if v := m.Get([]byte("seq." + name)); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
	}
	return 0
}

var floorEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// floor is where a counter new to this file starts: above the sidecar mark and the
// clock floor.
func (d *DB) floor(name string) uint64 {
	d.mu.Lock()
	mark := d.reserved[name]
	d.mu.Unlock()
	var clock uint64
	if us := d.now().Sub(floorEpoch).Microseconds(); us > 0 {
		clock = uint64(us)
	}
	return max(mark, clock)
}

// reserve makes sure the sidecar mark is at or above n before n is used.
func (d *DB) reserve(name string, n uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n <= d.reserved[name] {
		return nil
	}
	marks := make(map[string]uint64, len(d.reserved)+1)
	for k, v := range d.reserved {
		marks[k] = v
	}
	marks[name] = n + ReserveBlock
	if err := writeSidecar(d.path+".seq", marks); err != nil {
		return fmt.Errorf("boltstore: counter mark: %w", err)
	}
	d.reserved = marks
	return nil
}

func readSidecar(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	if err := json.Unmarshal(b, &m); err != nil {
		// A torn sidecar cannot happen (written by rename), but a damaged one must not
		// stop the agent: the clock floor still holds.
		return map[string]uint64{}, nil
	}
	return m, nil
}

// writeSidecar writes the marks durably: temp file, fsync, rename, fsync of the directory.
func writeSidecar(path string, marks map[string]uint64) error {
	b, err := json.Marshal(marks)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(path)
	return nil
}
