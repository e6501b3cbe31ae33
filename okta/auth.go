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
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

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
type apiTokenAuth struct{ token Secret }

func (a apiTokenAuth) authorization(context.Context) (string, error) {
	return "SSWS " + a.token.Reveal(), nil
}
func (apiTokenAuth) refreshable() bool                  { return false }
func (apiTokenAuth) invalidate(context.Context, string) {}
func (a *oauthAuth) refreshable() bool                  { return true }
func (a *oauthAuth) invalidate(ctx context.Context, h string) {
	a.cache.drop(ctx, strings.TrimPrefix(h, "Bearer "))
}

// oauthAuth is an OAuth access token from the client credentials grant,
// cached and shared by tokenCache.
type oauthAuth struct{ cache *tokenCache }

func (a *oauthAuth) authorization(ctx context.Context) (string, error) {
	t, err := a.cache.get(ctx)
	if err != nil {
		return "", err
	}
	return "Bearer " + t.Value, nil
}

// token is an access token and when it expires on the local clock.
type token struct {
	Value  string    `json:"t"`
	Expiry time.Time `json:"exp"`
}

// fetchFunc gets a new token from Okta.
type fetchFunc func(ctx context.Context) (*token, error)

// tokenURL is the org authorization server's token endpoint: tokens for the
// Management API come only from it, not from a custom authorization server.
func tokenURL(baseURL string) string { return baseURL + "/oauth2/v1/token" }

// clientSecretFetcher uses client_secret_basic, asking for exactly the
// connection's scopes.
func clientSecretFetcher(conn *Connection, hc *http.Client, clock func() time.Time) fetchFunc {
	cfg := clientcredentials.Config{
		ClientID: conn.Credentials.ClientID, ClientSecret: conn.Credentials.ClientSecret.Reveal(),
		TokenURL: tokenURL(conn.BaseURL), Scopes: conn.Scopes, AuthStyle: oauth2.AuthStyleInHeader,
	}
	return func(ctx context.Context) (*token, error) {
		now := clock()
		t, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.Response != nil {
				return nil, tokenError(re.Response.StatusCode, re.Response.Header, re.ErrorCode, re.ErrorDescription, now)
			}
			return nil, &TransientError{Err: fmt.Errorf("token request to %s: %w", cfg.TokenURL, sanitize(err))}
		}
		return newToken(t.AccessToken, t.ExpiresIn, now), nil
	}
}

// privateKeyFetcher uses private_key_jwt: a client assertion signed here
// with the connection's key (RFC 7523), posted in the form body.
func privateKeyFetcher(conn *Connection, hc *http.Client, clock func() time.Time) (fetchFunc, error) {
	key, alg, err := parsePrivateKey(conn.Credentials.PrivateKeyPEM.Reveal())
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if conn.Credentials.PrivateKeyID != "" {
		opts = opts.WithHeader("kid", conn.Credentials.PrivateKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	endpoint := tokenURL(conn.BaseURL)
	clientID := conn.Credentials.ClientID
	scope := strings.Join(conn.Scopes, " ")
	return func(ctx context.Context) (*token, error) {
		now := clock()
		jti := make([]byte, 16)
		_, _ = rand.Read(jti)
		assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: clientID, Subject: clientID, Audience: jwt.Audience{endpoint},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
			ID: hex.EncodeToString(jti),
		}).CompactSerialize()
		if err != nil {
			return nil, fmt.Errorf("signing the client assertion: %w", err)
		}
		form := url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {scope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, &TransientError{Err: fmt.Errorf("token request to %s: %w", endpoint, sanitize(err))}
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var tr struct {
			AccessToken      string `json:"access_token"`
			ExpiresIn        int64  `json:"expires_in"`
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &tr)
		if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
			return nil, tokenError(resp.StatusCode, resp.Header, tr.Error, tr.ErrorDescription, now)
		}
		return newToken(tr.AccessToken, tr.ExpiresIn, now), nil
	}, nil
}

func newToken(value string, expiresIn int64, now time.Time) *token {
	if expiresIn <= 0 {
		expiresIn = 3600
	}
	return &token{Value: value, Expiry: now.Add(time.Duration(expiresIn) * time.Second)}
}

// tokenError classifies a failed token request by what Okta said
// (error, error_description); it never holds the secret or a token.
func tokenError(status int, h http.Header, oauthErr, desc string, now time.Time) error {
	code := tasks.Code(oauthErr)
	if code == "" {
		code = tasks.HTTPStatus(status)
	}
	summary := "token request refused: " + orText(desc, http.StatusText(status))
	switch {
	case status == http.StatusTooManyRequests:
		c := &call{Bucket: ratelimit.BucketToken, Local: now}
		if v, err := http.ParseTime(h.Get("Date")); err == nil {
			c.Date = v
		}
		var reset int64
		if _, err := fmt.Sscan(h.Get("X-Rate-Limit-Reset"), &reset); err == nil {
			c.Reset = time.Unix(reset, 0)
		}
		return &RateLimitedError{Until: c.resetLocal(), Bucket: ratelimit.BucketToken}
	case status >= 500:
		return &TransientError{Err: fmt.Errorf("%s: %s", code, summary), Status: status}
	case oauthErr == "invalid_client" || status == http.StatusUnauthorized:
		return &UnauthorizedError{Code: code, Summary: summary}
	default:
		return &PermanentError{Code: code, Summary: summary, Status: status}
	}
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
