package okta

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// credentialSource gives the connection's current credentials. A secret
// given as a file (Credentials.*File) is read again each time it is
// needed, which is only when a token is fetched or a probe is due: a
// rotated Kubernetes secret (an atomic symlink swap) is picked up at the
// next probe, without a restart. A file that cannot be read keeps the last
// value, and the failure is logged once per change.
type credentialSource struct {
	mu      sync.Mutex
	creds   Credentials
	log     *slog.Logger
	lastErr string
}

func newCredentialSource(c Credentials, log *slog.Logger) *credentialSource {
	return &credentialSource{creds: c, log: log}
}

// current re-reads the secret files and returns the credentials.
func (s *credentialSource) current() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range []struct {
		field, path string
		into        *Secret
	}{
		{"client_secret_file", s.creds.ClientSecretFile, &s.creds.ClientSecret},
		{"private_key_file", s.creds.PrivateKeyFile, &s.creds.PrivateKeyPEM},
		{"api_token_file", s.creds.APITokenFile, &s.creds.APIToken},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			if msg := err.Error(); msg != s.lastErr {
				s.lastErr = msg
				s.log.Warn("secret file unreadable; keeping the last value", "field", f.field, "path", f.path, "error", err)
			}
			continue
		}
		v := Secret(strings.TrimRight(string(b), "\r\n"))
		if v != *f.into {
			if *f.into != "" {
				s.log.Info("secret file changed; using the new value", "field", f.field, "path", f.path)
			}
			*f.into = v
		}
	}
	return s.creds
}

// fingerprint names a set of credentials without revealing them: a failed
// probe recorded under one fingerprint does not hold back credentials that
// changed since.
func (c Credentials) fingerprint() string {
	h := sha256.Sum256([]byte("oktaq credentials v1\x00" + c.ClientID + "\x00" + c.ClientSecret.Reveal() + "\x00" +
		c.PrivateKeyPEM.Reveal() + "\x00" + c.PrivateKeyID + "\x00" + c.APIToken.Reveal()))
	return hex.EncodeToString(h[:8])
}
