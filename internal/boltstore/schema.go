package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var metaBucket = []byte("meta")

// Schema describes the owning package's layout.
type Schema struct {
	// Version is the current schema version, 1 or more.
	Version int
	// Init creates the current layout in a new file. It must be idempotent (create
	// buckets if they do not exist): it also repairs a salvaged file.
	Init func(tx *bolt.Tx) error
	// Upgrades[v] upgrades a file of version v to v+1; a missing step is an error.
	Upgrades map[int]func(tx *bolt.Tx) error
}

// prepare creates or upgrades the layout, raises the counters after a recovery and
// records the recovery.
func (d *DB) prepare(s Schema, rec *Recovery) error {
	return d.b.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("boltstore: %w", err)
		}
		v := m.Get([]byte("schema"))
		switch {
		case v == nil:
			// A new file, or salvaged data without its schema key: Init (idempotent)
			// creates what is missing.
			if err := s.Init(tx); err != nil {
				return fmt.Errorf("boltstore: init: %w", err)
			}
			if err := m.Put([]byte("created"), []byte(d.now().UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		default:
			if len(v) != 4 {
				return fmt.Errorf("boltstore: schema key has %d bytes", len(v))
			}
			have := int(binary.BigEndian.Uint32(v))
			if have > s.Version {
				return fmt.Errorf("boltstore: %s: %w (schema %d, this build reads up to %d)", d.path, ErrNewerSchema, have, s.Version)
			}
			for ; have < s.Version; have++ {
				up := s.Upgrades[have]
				if up == nil {
					return fmt.Errorf("boltstore: no upgrade from schema %d", have)
				}
				if err := up(tx); err != nil {
					return fmt.Errorf("boltstore: upgrade from schema %d: %w", have, err)
				}
			}
			if rec != nil {
				if err := s.Init(tx); err != nil { // recreate buckets lost with the corruption
					return fmt.Errorf("boltstore: init after recovery: %w", err)
				}
			}
		}
		if err := m.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, uint32(s.Version))); err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		if err := d.raiseCounters(m); err != nil {
			return err
		}
		var recs []Recovery
		_ = json.Unmarshal(m.Get([]byte("recovery")), &recs)
		recs = append(recs, *rec)
		if len(recs) > 10 {
			recs = recs[len(recs)-10:]
		}
		b, _ := json.Marshal(recs)
		return m.Put([]byte("recovery"), b)
	})
}

func (d *DB) checkSchema(s Schema) error {
	return d.b.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(metaBucket)
		if m == nil {
			return fmt.Errorf("boltstore: %s: %w: no meta bucket", d.path, ErrCorrupt)
		}
		v := m.Get([]byte("schema"))
		if len(v) != 4 {
			return fmt.Errorf("boltstore: %s: %w: no schema version", d.path, ErrCorrupt)
		}
		if have := int(binary.BigEndian.Uint32(v)); have != s.Version {
			return fmt.Errorf("boltstore: %s: schema %d, this build reads %d; open it writable once to upgrade", d.path, have, s.Version)
		}
		return nil
	})
}
