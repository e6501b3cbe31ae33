package okta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// dpopKey proves possession of a P-256 key (RFC 9449) on the token request
// and on every API call. The key is made when the executor is built and
// lives only in this process's memory: tokens bound to it are therefore
// not shared through Redis (tokenCache), since a bound token is useless
// without the key and the key must not leave the process. Each worker
// process fetches its own token, one an hour, which the token bucket
// easily bears.
type dpopKey struct {
	signer jose.Signer

	mu    sync.Mutex
	nonce string // the token endpoint's last DPoP-Nonce
}

func newDPoPKey() (*dpopKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop: generating the key: %w", err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return &dpopKey{signer: signer}, nil
}

type dpopClaims struct {
	HTM   string           `json:"htm"`
	HTU   string           `json:"htu"`
	IAT   *jwt.NumericDate `json:"iat"`
	JTI   string           `json:"jti"`
	Nonce string           `json:"nonce,omitempty"`
	ATH   string           `json:"ath,omitempty"`
}

// proof signs a proof for one request. htu is the request URL's scheme,
// host and decoded path, without query or fragment; accessToken, when
// set, is bound by its hash (ath).
func (k *dpopKey) proof(method, htu, nonce, accessToken string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	c := dpopClaims{HTM: method, HTU: htu, IAT: jwt.NewNumericDate(now), JTI: hex.EncodeToString(jti), Nonce: nonce}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.ATH = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return jwt.Signed(k.signer).Claims(c).CompactSerialize()
}

func (k *dpopKey) tokenNonce() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nonce
}

func (k *dpopKey) setTokenNonce(n string) {
	k.mu.Lock()
	k.nonce = n
	k.mu.Unlock()
}

// htu is the DPoP target URI of a request.
func htu(r *http.Request) string {
	return r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
}
