package oktasim

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v3"
)

// DPoP (RFC 9449) as a require_dpop client meets it. The token request must carry a proof
// (header typ dpop+jwt, alg ES256, the public jwk; claims htm, htu, iat, jti) with the
// server's nonce: without it the answer is 400 use_dpop_nonce and a DPoP-Nonce header. The
// token is bound to the key (cnf.jkt, the jwk's SHA-256 thumbprint) and has token_type DPoP.
// Every API call with it must say "Authorization: DPoP <token>" and carry a fresh proof
// with htm, htu (scheme, host and path, no query) and ath (base64url SHA-256 of the token)
// signed by the same key.

// dpopIATWindow is how far a proof's iat may be from the server's clock (unverified for Okta;
// RFC 9449 leaves it to the server).
const dpopIATWindow = time.Minute

type dpopClaims struct {
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	JTI   string   `json:"jti"`
	Nonce string   `json:"nonce"`
	ATH   string   `json:"ath"`
}

// dpopProof is a verified proof: its claims and the thumbprint of its key.
type dpopProof struct {
	claims dpopClaims
	jkt    string
}

// verifyDPoP checks the proof's form, signature, htm, htu, iat and jti; it returns the
// error_description of a bad proof, or "". The nonce and ath are checked by the caller.
func (s *Sim) verifyDPoP(proof, method, htu string, now time.Time) (*dpopProof, string) {
	if proof == "" {
		return nil, "The DPoP proof JWT header is missing."
	}
	jws, err := jose.ParseSigned(proof)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "The DPoP proof is not a valid JWT."
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, "The DPoP proof JWT header 'typ' must be 'dpop+jwt'."
	}
	if h.Algorithm != string(jose.ES256) {
		return nil, "The DPoP proof JWT header 'alg' is not supported."
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.Valid() || !h.JSONWebKey.IsPublic() {
		return nil, "The DPoP proof JWT header 'jwk' must be a public key."
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return nil, "The DPoP proof signature is invalid."
	}
	var c dpopClaims
	if json.Unmarshal(payload, &c) != nil {
		return nil, "The DPoP proof claims are not valid JSON."
	}
	switch {
	case c.HTM != method:
		return nil, "The DPoP proof 'htm' does not match the request method."
	case c.HTU != htu:
		return nil, "The DPoP proof 'htu' does not match the request URI."
	case c.IAT == nil:
		return nil, "The DPoP proof must have an 'iat' claim."
	case c.JTI == "":
		return nil, "The DPoP proof must have a 'jti' claim."
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if iat.Before(now.Add(-dpopIATWindow)) || iat.After(now.Add(dpopIATWindow)) {
		return nil, "The DPoP proof 'iat' is outside the accepted window."
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "The DPoP proof JWT header 'jwk' must be a public key."
	}
	return &dpopProof{claims: c, jkt: base64.RawURLEncoding.EncodeToString(tp)}, ""
}

// spendJTI records a proof's jti; false if it was used before (a replay).
func (s *Sim) spendJTI(jti string) bool {
	key := "dpop:" + jti
	if s.jtis[key] {
		return false
	}
	s.jtis[key] = true
	return true
}

// dpopNonce is the nonce the token endpoint currently wants.
func (s *Sim) currentDPoPNonce() string {
	if s.dpopNonce == "" {
		s.dpopNonce = randomString(22)
	}
	return s.dpopNonce
}

// RotateDPoPNonce makes the token endpoint want a new DPoP nonce: the next proof with the old
// one gets use_dpop_nonce again.
func (s *Sim) RotateDPoPNonce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dpopNonce = randomString(22)
}

// tokenDPoP checks the proof of a token request of a require_dpop client; it returns the
// thumbprint to bind the token to, or the error answer.
func (s *Sim) tokenDPoP(r *http.Request, now time.Time) (string, *response) {
	p, desc := s.verifyDPoP(r.Header.Get("DPoP"), http.MethodPost, s.baseURL+tokenPath, now)
	if desc != "" {
		resp := oauthErr(http.StatusBadRequest, "invalid_dpop_proof", desc)
		return "", &resp
	}
	if p.claims.Nonce != s.currentDPoPNonce() {
		resp := oauthErr(http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
		resp.header.Set("DPoP-Nonce", s.currentDPoPNonce())
		return "", &resp
	}
	if !s.spendJTI(p.claims.JTI) {
		resp := oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof 'jti' has already been used.")
		return "", &resp
	}
	return p.jkt, nil
}

// apiDPoP checks the proof of an API call made with a DPoP-bound token.
func (s *Sim) apiDPoP(r *http.Request, tok string, t *accessToken, now time.Time) *response {
	p, desc := s.verifyDPoP(r.Header.Get("DPoP"), r.Method, s.baseURL+r.URL.Path, now)
	if desc == "" {
		sum := sha256.Sum256([]byte(tok))
		switch {
		case p.claims.ATH != base64.RawURLEncoding.EncodeToString(sum[:]):
			desc = "The DPoP proof 'ath' does not match the access token."
		case p.jkt != t.jkt:
			desc = "The DPoP proof key does not match the key the access token is bound to."
		case !s.spendJTI(p.claims.JTI):
			desc = "The DPoP proof 'jti' has already been used."
		}
	}
	if desc == "" {
		return nil
	}
	resp := oktaErr(http.StatusUnauthorized, "E0000011", "Invalid token provided")
	resp.header = http.Header{"WWW-Authenticate": {fmt.Sprintf(`DPoP algs="ES256", error="invalid_dpop_proof", error_description=%q`, desc)}}
	return &resp
}
