package platformsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

// KeyDir is the sandbox's key directory:
//
//	DIR/platform.key.pem                    the platform's SM2 key (0600)
//	DIR/platform.pub.pem                    its public key: platform.platformPublicKey of terminals
//	DIR/tls.crt, DIR/tls.key                self-signed TLS certificate (key 0600): platform.caFile
//	DIR/channels/NO/channel.pub.pem         a channel's SM2 public key, which verifies its requests
//	DIR/channels/NO/channel.key.pem         the channel's private key (0600): platform.privateKey;
//	                                        absent when the terminal brought its own key pair
//	                                        (sscagent keys gen) and only its public key was copied here
//	DIR/channels/NO/sm4.key                 the channel's SM4 key (0600): platform.sm4Key
//
// Missing files are created on first use. With test keys, the files created hold the
// published derived test keys (protocol.TestKey), which terminals refuse unless
// terminal.test is set.
type KeyDir struct {
	Dir      string
	Platform *protocol.PrivateKey
	Channels map[string]Channel
	// TLS is the HTTPS certificate; CertFile its path, for terminals' platform.caFile.
	TLS      tls.Certificate
	CertFile string
	// Test reports that the platform key is the published test key.
	Test bool
	// Created lists the files written by this call.
	Created []string
}

// OpenKeyDir loads dir, creating what is missing: the platform key pair, the TLS
// certificate (for 127.0.0.1, ::1, localhost and hosts), and a key pair and SM4 key
// for each channel number given. Channels already in dir/channels are loaded too. With
// test, new keys are the derived test keys; existing files are never replaced.
func OpenKeyDir(dir string, channels []string, hosts []string, test bool) (*KeyDir, error) {
	kd := &KeyDir{Dir: dir, Channels: map[string]Channel{}, CertFile: filepath.Join(dir, "tls.crt")}
	if err := os.MkdirAll(filepath.Join(dir, "channels"), 0o700); err != nil {
		return nil, err
	}
	var err error
	if kd.Platform, err = kd.privateKey("platform.key.pem", "platform.pub.pem", protocol.TestPlatformLabel, test); err != nil {
		return nil, err
	}
	kd.Test = protocol.IsTestKey(kd.Platform.Public(), "")
	if test && !kd.Test {
		return nil, fmt.Errorf("%s holds a platform key that is not the published test key; use another --keys directory for test keys", dir)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "channels"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(channels, e.Name()) {
			channels = append(channels, e.Name())
		}
	}
	sort.Strings(channels)
	for _, no := range channels {
		if len(no) != 12 || !isDigits(no) {
			return nil, fmt.Errorf("channel number %q is not 12 digits", no)
		}
		ch, err := kd.channel(no, test)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", no, err)
		}
		kd.Channels[no] = ch
	}
	if len(kd.Channels) == 0 {
		return nil, errors.New("no channel: give at least one channel number")
	}
	if kd.TLS, err = kd.certificate(hosts); err != nil {
		return nil, err
	}
	return kd, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (kd *KeyDir) path(rel string) string { return filepath.Join(kd.Dir, rel) }

func (kd *KeyDir) write(rel string, data []byte, perm os.FileMode) error {
	if err := protocol.WriteNewFile(kd.path(rel), data, perm); err != nil {
		return err
	}
	kd.Created = append(kd.Created, rel)
	return nil
}

// privateKey loads or creates a key pair file and its public half.
func (kd *KeyDir) privateKey(keyRel, pubRel, label string, test bool) (*protocol.PrivateKey, error) {
	b, err := os.ReadFile(kd.path(keyRel))
	var k *protocol.PrivateKey
	switch {
	case err == nil:
		if k, err = protocol.ParsePrivateKey(b); err != nil {
			return nil, fmt.Errorf("%s: %w", keyRel, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if test {
			k = protocol.TestKey(label)
		} else if k, err = protocol.GenerateKey(); err != nil {
			return nil, err
		}
		pemKey, err := k.MarshalPEM()
		if err != nil {
			return nil, err
		}
		if err := kd.write(keyRel, pemKey, 0o600); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if err := kd.publicFile(pubRel, k.Public()); err != nil {
		return nil, err
	}
	return k, nil
}

// publicFile writes pub to rel unless it exists, in which case it must hold pub.
func (kd *KeyDir) publicFile(rel string, pub *protocol.PublicKey) error {
	b, err := os.ReadFile(kd.path(rel))
	if errors.Is(err, os.ErrNotExist) {
		pemPub, err := pub.MarshalPEM()
		if err != nil {
			return err
		}
		return kd.write(rel, pemPub, 0o644)
	}
	if err != nil {
		return err
	}
	got, err := protocol.ParsePublicKey(b)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if !got.Equal(pub) {
		return fmt.Errorf("%s does not hold the public half of the private key beside it", rel)
	}
	return nil
}

func (kd *KeyDir) channel(no string, test bool) (Channel, error) {
	sub := filepath.Join("channels", no)
	if err := os.MkdirAll(kd.path(sub), 0o700); err != nil {
		return Channel{}, err
	}
	keyRel, pubRel, sm4Rel := filepath.Join(sub, "channel.key.pem"), filepath.Join(sub, "channel.pub.pem"), filepath.Join(sub, "sm4.key")
	var ch Channel
	_, keyErr := os.Stat(kd.path(keyRel))
	pubBytes, pubErr := os.ReadFile(kd.path(pubRel))
	switch {
	case errors.Is(keyErr, os.ErrNotExist) && pubErr == nil:
		// The terminal made its own pair and handed in the public key.
		p, err := protocol.ParsePublicKey(pubBytes)
		if err != nil {
			return ch, fmt.Errorf("%s: %w", pubRel, err)
		}
		ch.PublicKey = p
	default:
		k, err := kd.privateKey(keyRel, pubRel, protocol.TestChannelLabel(no), test)
		if err != nil {
			return ch, err
		}
		ch.PublicKey = k.Public()
	}
	b, err := os.ReadFile(kd.path(sm4Rel))
	switch {
	case err == nil:
		if ch.SM4Key, err = protocol.ParseSM4Key(b); err != nil {
			return ch, fmt.Errorf("%s: %w", sm4Rel, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if test {
			ch.SM4Key = protocol.TestSM4Key(no)
		} else if ch.SM4Key, err = protocol.NewSM4Key(); err != nil {
			return ch, err
		}
		if err := kd.write(sm4Rel, protocol.FormatSM4Key(ch.SM4Key), 0o600); err != nil {
			return ch, err
		}
	default:
		return ch, err
	}
	return ch, nil
}

// certificate loads or creates the self-signed TLS certificate. An existing
// certificate must name every host asked for.
func (kd *KeyDir) certificate(hosts []string) (tls.Certificate, error) {
	names := append([]string{"127.0.0.1", "::1", "localhost"}, hosts...)
	certPEM, certErr := os.ReadFile(kd.path("tls.crt"))
	keyPEM, keyErr := os.ReadFile(kd.path("tls.key"))
	if certErr == nil && keyErr == nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return c, fmt.Errorf("tls.crt/tls.key: %w", err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return c, err
		}
		for _, h := range names {
			if leaf.VerifyHostname(h) != nil {
				return c, fmt.Errorf("tls.crt does not name %s; remove tls.crt and tls.key to make a new one", h)
			}
		}
		return c, nil
	}
	if !errors.Is(certErr, os.ErrNotExist) || !errors.Is(keyErr, os.ErrNotExist) {
		return tls.Certificate{}, errors.New("tls.crt and tls.key go together: remove the one left to make a new pair")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sscsim sandbox platform", Organization: []string{"sscagent sandbox (test only)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range names {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := kd.write("tls.key", keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := kd.write("tls.crt", certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
