//go:build windows

package credential

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Open decrypts a DPAPI blob read from Path (machine scope, bound to name).
func Open(name string, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("empty DPAPI blob")
	}
	ent := entropy(name)
	in := windows.DataBlob{Size: uint32(len(data)), Data: &data[0]}
	eb := windows.DataBlob{Size: uint32(len(ent)), Data: &ent[0]}
	var out windows.DataBlob
	if err := windows.CryptUnprotectData(&in, nil, &eb, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out); err != nil {
		return nil, fmt.Errorf("credential %s: DPAPI: %w (sealed on another machine, or for another name?)", name, err)
	}
	return takeBlob(&out), nil
}

// WithKeys are the key choices Seal accepts on Windows: DPAPI's machine key.
var WithKeys = []string{"machine"}

// Seal encrypts plain with DPAPI in machine scope, bound to name, and returns the blob.
func Seal(_ context.Context, name string, plain []byte, withKey string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if withKey != "" && withKey != "machine" && withKey != "auto" {
		return nil, fmt.Errorf("--with-key %q: Windows seals with DPAPI's machine key (auto or machine)", withKey)
	}
	if len(plain) == 0 {
		return nil, errors.New("empty secret")
	}
	ent := entropy(name)
	in := windows.DataBlob{Size: uint32(len(plain)), Data: &plain[0]}
	eb := windows.DataBlob{Size: uint32(len(ent)), Data: &ent[0]}
	var out windows.DataBlob
	flags := uint32(windows.CRYPTPROTECT_UI_FORBIDDEN | windows.CRYPTPROTECT_LOCAL_MACHINE)
	if err := windows.CryptProtectData(&in, nil, &eb, 0, nil, flags, &out); err != nil {
		return nil, fmt.Errorf("DPAPI: %w", err)
	}
	return takeBlob(&out), nil
}

func takeBlob(b *windows.DataBlob) []byte {
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(b.Data)))
	return append([]byte(nil), unsafe.Slice(b.Data, b.Size)...)
}

// Restrict gives the sealed file at path a protected DACL of SYSTEM and Administrators
// only: a machine-scope blob opens for any account of the machine that can read it.
func Restrict(path string) error {
	sd, err := windows.SecurityDescriptorFromString("D:P(A;;FA;;;SY)(A;;FA;;;BA)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}
