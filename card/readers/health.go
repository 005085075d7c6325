package readers

import (
	"slices"
)

// Readers returns every attached reader, ordered by name.
func (m *Manager) Readers() []ReaderInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readersLocked()
}

func (m *Manager) readersLocked() []ReaderInfo {
	out := make([]ReaderInfo, 0, len(m.readers))
	for _, r := range m.readers {
		out = append(out, r.info)
	}
	slices.SortFunc(out, func(a, b ReaderInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Health reports the readers, the PSAM and the last error, for telemetry.
func (m *Manager) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := Health{Service: m.service, Readers: m.readersLocked()}
	for _, r := range h.Readers {
		if r.Role == RoleHolder {
			h.HolderReaders++
		}
		if r.Role == RolePSAM && r.Present {
			h.PSAM.Present = true
			if h.PSAM.Reader == "" {
				h.PSAM.Reader = r.Name
			}
		}
	}
	if m.ps != nil {
		info := m.ps.p.Info()
		h.PSAM.Usable, h.PSAM.Reader, h.PSAM.TerminalNo, h.PSAM.Serial, h.PSAM.Test = true, m.ps.reader, info.TerminalNo, info.Serial, info.Test
	} else if m.psamErr != nil {
		h.PSAM.Error = m.psamErr.Error()
	}
	h.HSM = m.o.HSM != nil && m.cfg.HSM.Enabled
	if m.lastErr != nil {
		h.LastError, h.LastErrorAt = m.lastErr.Error(), m.lastErrAt
	}
	return h
}
