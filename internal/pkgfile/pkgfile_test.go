package pkgfile

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/release"
)

// TestReadRealPackages builds a .deb and an .rpm with nfpm (the packager of `make
// packages`) and reads them back with dpkg-deb, rpm and rpm2archive.
func TestReadRealPackages(t *testing.T) {
	labtest.Require(t, "dpkg-deb", "rpm", "rpm2archive")
	bin := []byte("#!/bin/sh\necho the agent\n")
	for _, c := range []struct{ kind, arch, wantVersion string }{
		{release.KindDeb, "arm64", "1.3.0+git1-1"},
		{release.KindRPM, "amd64", "1.3.0+git1-1"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			p := labtest.BuildPackage(t, t.TempDir(), labtest.PackageSpec{Kind: c.kind, Version: "1.3.0+git1", Arch: c.arch,
				Files: map[string][]byte{BinaryPath: bin, "/usr/share/doc/x": []byte("doc")}})
			kind, err := KindOf(p)
			if err != nil || kind != c.kind {
				t.Fatalf("KindOf(%s) = %q, %v", p, kind, err)
			}
			info, err := Read(context.Background(), kind, p)
			want := Info{Kind: c.kind, Name: "sscagent", Version: c.wantVersion, Arch: c.arch}
			if err != nil || info != want {
				t.Fatalf("Read = %+v, %v; want %+v", info, err, want)
			}
			got, err := Binary(context.Background(), kind, p)
			if err != nil || !bytes.Equal(got, bin) {
				t.Fatalf("Binary = %q, %v", got, err)
			}
			if _, err := Read(context.Background(), kind, bin0(t)); err == nil {
				t.Fatal("Read of a file that is no package succeeded")
			}
		})
	}
}

func bin0(t *testing.T) string {
	p := t.TempDir() + "/not.pkg"
	if err := os.WriteFile(p, []byte("not a package"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKindAndArch(t *testing.T) {
	if _, err := KindOf("sscagent.msi"); err == nil {
		t.Fatal("an .msi is no package")
	}
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "amd64": "amd64", "arm64": "arm64"} {
		if got := GOARCH(in); got != want {
			t.Errorf("GOARCH(%s) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "a\nb", "a\nb\nc\nd", "\n1\namd64"} {
		if _, err := parseInfo(release.KindDeb, bad); err == nil {
			t.Errorf("parseInfo(%q) accepted", bad)
		}
	}
}

func FuzzFindInTar(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "./usr/bin/sscagent", Mode: 0o755, Size: 3, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("abc"))
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := FindInTar(bytes.NewReader(b), BinaryPath)
		if err == nil && len(got) > maxBinary {
			t.Fatalf("%d bytes", len(got))
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add("sscagent\n1.3.0-1\nx86_64\n")
	f.Fuzz(func(t *testing.T, s string) {
		i, err := parseInfo(release.KindRPM, s)
		if err == nil && (i.Name == "" || i.Version == "" || i.Arch == "") {
			t.Fatalf("accepted %q as %+v", s, i)
		}
	})
}
