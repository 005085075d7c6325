//go:build !linux

package hid

// Open is not available outside Linux: it returns ErrUnsupported.
func Open(c Config, r Roots) (*Device, error) { return nil, ErrUnsupported }
