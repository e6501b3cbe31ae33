package oktasim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

func errorf(format string, args ...any) error { return fmt.Errorf("oktasim: "+format, args...) }

// parsePublicKey reads a PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a "CERTIFICATE".
func parsePublicKey(pemText string) (any, error) {
	blk, _ := pem.Decode([]byte(strings.ReplaceAll(pemText, `\n`, "\n")))
	if blk == nil {
		return nil, errors.New("public_key_pem: no PEM block")
	}
	switch blk.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}

type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
	Jti string          `json:"jti"`
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// assertionSubject reads sub without verifying, to find the client when client_id is absent.
func assertionSubject(jwt string) string {
	parts := strings.Split(jwt, ".")
	var c assertionClaims
	if len(parts) != 3 || decodeSegment(parts[1], &c) != nil {
		return ""
	}
	return c.Sub
}

// verifyAssertion checks a private_key_jwt client assertion; it returns Okta's error_description
// or "" when the assertion is good.
func (s *Sim) verifyAssertion(c *client, jwt string, now time.Time) string {
	if c.key == nil {
		return "The client is not configured for private_key_jwt authentication."
	}
	parts := strings.Split(jwt, ".")
	var hdr struct{ Alg, Kid string }
	var claims assertionClaims
	if len(parts) != 3 || decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		return "The client_assertion is not a valid JWT."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !verifySignature(c.key, hdr.Alg, parts[0]+"."+parts[1], sig) {
		return "The client_assertion signature is invalid."
	}
	if c.kid != "" && hdr.Kid != "" && hdr.Kid != c.kid {
		return "The client_assertion signature is invalid."
	}
	if claims.Iss != c.id || claims.Sub != c.id {
		return "The 'iss' and 'sub' claims of the client_assertion must both be the client_id."
	}
	want := s.baseURL + tokenPath
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		auds = nil
	}
	if len(auds) != 1 || auds[0] != want {
		return "The audience claim for client_assertion must be the endpoint invoked for the request."
	}
	if claims.Exp == nil {
		return "The client_assertion token must have an expiration claim."
	}
	exp := time.Unix(int64(*claims.Exp), 0)
	if !now.Before(exp) {
		return "The client_assertion token is expired."
	}
	if exp.After(now.Add(tokenLifetime + time.Minute)) {
		return "The client_assertion token has an expiration too far in the future."
	}
	if claims.Jti != "" {
		if s.jtis[claims.Jti] {
			return "The client_assertion token has already been used."
		}
		s.jtis[claims.Jti] = true
	}
	return ""
}

func verifySignature(key any, alg, signed string, sig []byte) bool {
	var h crypto.Hash
	switch alg[len(alg)-min(3, len(alg)):] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	default:
		return false
	}
	hasher := h.New()
	hasher.Write([]byte(signed))
	digest := hasher.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") && rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if !strings.HasPrefix(alg, "ES") || len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}
