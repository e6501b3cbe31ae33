package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// authorizer gives the Authorization header for a request.
type authorizer interface {
	authorization(ctx context.Context) (string, error)
	// refreshable reports whether a 401 may be cured by a new token.
	refreshable() bool
	// invalidate drops the token that was sent as header.
	invalidate(ctx context.Context, header string)
}

// apiTokenAuth is SSWS: a static token, nothing to refresh.
type apiTokenAuth struct{ creds *credentialSource }

func (a apiTokenAuth) authorization(context.Context) (string, error) {
	return "SSWS " + a.creds.current().APIToken.Reveal(), nil
}
func (apiTokenAuth) refreshable() bool                  { return false }
func (apiTokenAuth) invalidate(context.Context, string) {}
func (a *oauthAuth) refreshable() bool                  { return true }
func (a *oauthAuth) invalidate(ctx context.Context, h string) {
	_, value, _ := strings.Cut(h, " ")
	a.cache.drop(ctx, value)
}

// oauthAuth is an OAuth access token from the client credentials grant,
// cached and shared by tokenCache.
type oauthAuth struct{ cache *tokenCache }

func (a *oauthAuth) authorization(ctx context.Context) (string, error) {
	t, err := a.cache.get(ctx)
	if err != nil {
		return "", err
	}
	if t.Type == "DPoP" {
		return "DPoP " + t.Value, nil
	}
	return "Bearer " + t.Value, nil
}

// token is an access token, the scopes it carries and when it expires on
// the local clock.
type token struct {
	Value  string    `json:"t"`
	Type   string    `json:"ty,omitempty"` // "Bearer" or "DPoP"
	Scopes []string  `json:"s,omitempty"`
	Expiry time.Time `json:"exp"`
}

// fetchFunc gets a new token from Okta.
type fetchFunc func(ctx context.Context) (*token, error)

// tokenURL is the org authorization server's token endpoint: tokens for the
// Management API come only from it, not from a custom authorization server.
func tokenURL(baseURL string) string { return baseURL + "/oauth2/v1/token" }

// tokenClient makes token requests: client_secret_basic (an API service
// integration) or private_key_jwt (a client assertion signed here with the
// connection's key, RFC 7523), each with a DPoP proof when the connection
// uses DPoP (Okta allows DPoP for confidential clients with either).
type tokenClient struct {
	conn     *Connection
	creds    *credentialSource
	hc       *http.Client
	clock    func() time.Time
	dpop     *dpopKey // nil without DPoP
	endpoint string
	log      *slog.Logger
}

// request asks for exactly scopes, once more with the server's nonce if it
// answers use_dpop_nonce.
func (f *tokenClient) request(ctx context.Context, scopes []string) (*token, error) {
	t, err := f.post(ctx, scopes)
	var down *ConnectionDownError
	if f.dpop != nil && errors.As(err, &down) && down.Code == "use_dpop_nonce" {
		t, err = f.post(ctx, scopes)
	}
	return t, err
}

func (f *tokenClient) post(ctx context.Context, scopes []string) (*token, error) {
	now := f.clock()
	creds := f.creds.current()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopes, " ")}}
	if creds.PrivateKeyPEM != "" {
		assertion, err := clientAssertion(creds, f.endpoint, now)
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if creds.PrivateKeyPEM == "" {
		req.SetBasicAuth(url.QueryEscape(creds.ClientID), url.QueryEscape(creds.ClientSecret.Reveal()))
	}
	if f.dpop != nil {
		proof, err := f.dpop.proof(http.MethodPost, f.endpoint, f.dpop.tokenNonce(), "", now)
		if err != nil {
			return nil, fmt.Errorf("dpop proof: %w", err)
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, &ConnectionDownError{Connection: f.conn.Name, Code: "unreachable",
			Summary: fmt.Sprintf("token request to %s: %v", f.endpoint, sanitize(err))}
	}
	defer resp.Body.Close()
	if n := resp.Header.Get("DPoP-Nonce"); n != "" && f.dpop != nil {
		f.dpop.setTokenNonce(n)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int64  `json:"expires_in"`
		Scope            string `json:"scope"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return nil, tokenError(f.conn.Name, resp.StatusCode, resp.Header, tr.Error, tr.ErrorDescription, now)
	}
	t := newToken(tr.AccessToken, tr.ExpiresIn, now)
	t.Type = "Bearer"
	if strings.EqualFold(tr.TokenType, "DPoP") {
		t.Type = "DPoP"
	}
	t.Scopes = scopes
	if tr.Scope != "" {
		t.Scopes = strings.Fields(tr.Scope)
	}
	return t, nil
}

// clientAssertion signs the private_key_jwt assertion with the current key.
func clientAssertion(creds Credentials, endpoint string, now time.Time) (string, error) {
	key, alg, err := parsePrivateKey(creds.PrivateKeyPEM.Reveal())
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if creds.PrivateKeyID != "" {
		opts = opts.WithHeader("kid", creds.PrivateKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("private key: %w", err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: creds.ClientID, Subject: creds.ClientID, Audience: jwt.Audience{endpoint},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID: hex.EncodeToString(jti),
	}).CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return assertion, nil
}

func newToken(value string, expiresIn int64, now time.Time) *token {
	if expiresIn <= 0 {
		expiresIn = 3600
	}
	return &token{Value: value, Expiry: now.Add(time.Duration(expiresIn) * time.Second)}
}

// tokenError classifies a failed token request by what Okta said
// (error, error_description); it never holds the secret or a token. A 429
// is the token bucket; anything else is the connection being down.
func tokenError(conn string, status int, h http.Header, code, desc string, now time.Time) error {
	if status == http.StatusTooManyRequests {
		c := &call{Bucket: ratelimit.BucketToken, Local: now}
		if v, err := http.ParseTime(h.Get("Date")); err == nil {
			c.Date = v
		}
		var reset int64
		if _, err := fmt.Sscan(h.Get("X-Rate-Limit-Reset"), &reset); err == nil {
			c.Reset = time.Unix(reset, 0)
		}
		return &RateLimitedError{Until: c.resetLocal(), Bucket: ratelimit.BucketToken}
	}
	if code == "" {
		code = string(tasks.HTTPStatus(status))
	}
	summary := "token request refused: " + orText(desc, http.StatusText(status))
	if hint := tokenHint(code); hint != "" {
		summary += "; " + hint
	}
	return &ConnectionDownError{Connection: conn, Code: code, Summary: summary}
}

// parsePrivateKey reads an RSA (PKCS#1 or PKCS#8) or EC key from PEM.
func parsePrivateKey(pemText string) (crypto.Signer, jose.SignatureAlgorithm, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, "", errors.New("private key: not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("private key: %s block does not parse", block.Type)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, "", errors.New("private key: not a signing key")
	}
	alg := jose.RS256
	if ec, ok := key.(*ecdsa.PrivateKey); ok {
		switch ec.Curve.Params().BitSize {
		case 384:
			alg = jose.ES384
		case 521:
			alg = jose.ES512
		default:
			alg = jose.ES256
		}
	}
	return signer, alg, nil
}
