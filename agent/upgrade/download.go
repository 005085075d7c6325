package upgrade

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/sscagent/sscagent/internal/release"
)

// newClient returns the HTTPS client of downloads: the CA bundle's roots (or the
// system's), TLS 1.2 at least, no redirect to anything but HTTPS.
func newClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("upgrade.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upgrade.caFile: %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil
	return &http.Client{Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Scheme != "https" {
			return errors.New("redirect away from HTTPS")
		}
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		return nil
	}}, nil
}

// download fetches rawURL into dst (created, mode 0755) and checks the bytes against
// m: at most m.Size bytes are taken (one more tells a longer artifact), and the size,
// SHA-256 and SM3 must match. dst is removed on any failure.
func download(ctx context.Context, c *http.Client, rawURL string, m release.Manifest, dst string) (err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return refuse(CodeCannotStage, "url %q: want https://host/...", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return refuse(CodeCannotStage, "url: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return refuse(CodeDownload, "%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return refuse(CodeDownload, "GET %s: %s", u.Redacted(), resp.Status)
	}
	_ = os.Remove(dst)
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return refuse(CodeCannotStage, "the executable's directory is not writable by the agent: %v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(dst)
		}
	}()
	d := release.NewDigest()
	if _, err := io.Copy(io.MultiWriter(f, d), io.LimitReader(resp.Body, m.Size+1)); err != nil {
		return refuse(CodeDownload, "GET %s: %v", u.Redacted(), err)
	}
	if err := d.Check(m); err != nil {
		return &Refusal{Code: CodeDigest, Err: err}
	}
	if err := f.Sync(); err != nil {
		return refuse(CodeCannotStage, "%v", err)
	}
	if err := f.Close(); err != nil {
		return refuse(CodeCannotStage, "%v", err)
	}
	return nil
}
