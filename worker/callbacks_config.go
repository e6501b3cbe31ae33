package worker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// CallbackEndpoint is where one producer's deliveries go and the secret
// they are signed with. The URL comes from configuration only, never from
// a request, so that no producer can point oktaq at an internal address.
type CallbackEndpoint struct {
	URL    *url.URL
	Signer *WebhookSigner
}

var producerRe = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// ParseCallbackURLs parses OKTAQ_PRODUCER_CALLBACKS,
// "producer=https://host/path;producer2=...". Only https is accepted;
// plain http only to a loopback address and only with allowHTTP.
func ParseCallbackURLs(s string, allowHTTP bool) (map[string]*url.URL, error) {
	out := map[string]*url.URL{}
	var errs []error
	for _, pair := range splitPairs(s) {
		producer, raw, ok := strings.Cut(pair, "=")
		producer = strings.TrimSpace(producer)
		if !ok || !producerRe.MatchString(producer) {
			errs = append(errs, fmt.Errorf("%q is not producer=https://host/path", pair))
			continue
		}
		if _, dup := out[producer]; dup {
			errs = append(errs, fmt.Errorf("producer %q is listed twice", producer))
			continue
		}
		u, err := CheckCallbackURL(strings.TrimSpace(raw), allowHTTP)
		if err != nil {
			errs = append(errs, fmt.Errorf("producer %q: %w", producer, err))
			continue
		}
		out[producer] = u
	}
	return out, errors.Join(errs...)
}

// CheckCallbackURL applies the rules a callback URL must follow: absolute
// https (http only to loopback with allowHTTP), a host, no user info (it
// would be a secret in the configuration dump), no fragment.
func CheckCallbackURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !u.IsAbs() {
		return nil, errors.New("the URL is not absolute (want https://host/path)")
	}
	switch {
	case u.User != nil:
		return nil, errors.New("the URL holds a user or password; put the secret in OKTAQ_CALLBACK_SECRETS")
	case u.Fragment != "":
		return nil, errors.New("the URL has a #fragment, which is never sent")
	case u.Scheme == "https":
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("plain http is allowed only to a loopback address, not %q; use https", u.Hostname())
	case u.Scheme == "http" && !allowHTTP:
		return nil, errors.New("plain http to loopback needs OKTAQ_CALLBACK_ALLOW_HTTP=true")
	case u.Scheme == "http":
	default:
		return nil, fmt.Errorf("scheme %q is not https", u.Scheme)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseCallbackSecrets parses OKTAQ_CALLBACK_SECRETS, "producer=whsec_...;..."
// ("," separates too). Errors name the producer, never the secret.
func ParseCallbackSecrets(s string) (map[string]*WebhookSigner, error) {
	out := map[string]*WebhookSigner{}
	var errs []error
	for i, pair := range splitPairs(s) {
		producer, secret, ok := strings.Cut(pair, "=")
		producer = strings.TrimSpace(producer)
		if !ok || !producerRe.MatchString(producer) {
			errs = append(errs, fmt.Errorf("entry %d is not producer=whsec_<base64>", i+1))
			continue
		}
		signer, err := NewWebhookSigner(strings.TrimSpace(secret))
		if err != nil {
			errs = append(errs, fmt.Errorf("producer %q: the secret %w", producer, err))
			continue
		}
		out[producer] = signer
	}
	return out, errors.Join(errs...)
}

// CallbackEndpoints pairs the URLs with the secrets: every producer with a
// URL needs a secret, and a secret without a URL is a typo.
func CallbackEndpoints(urls map[string]*url.URL, secrets map[string]*WebhookSigner) (map[string]CallbackEndpoint, error) {
	out := map[string]CallbackEndpoint{}
	var errs []error
	for p, u := range urls {
		s, ok := secrets[p]
		if !ok {
			errs = append(errs, fmt.Errorf("producer %q has a callback URL but no secret in OKTAQ_CALLBACK_SECRETS", p))
			continue
		}
		out[p] = CallbackEndpoint{URL: u, Signer: s}
	}
	for p := range secrets {
		if _, ok := urls[p]; !ok {
			errs = append(errs, fmt.Errorf("producer %q has a callback secret but no URL in OKTAQ_PRODUCER_CALLBACKS", p))
		}
	}
	return out, errors.Join(errs...)
}

// splitPairs splits on ';' (the contract's separator); a secret never
// holds ';' (base64), a URL rarely does and would be refused by url.Parse
// checks downstream when cut.
func splitPairs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
