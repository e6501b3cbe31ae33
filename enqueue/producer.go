package enqueue

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// Producer is a system allowed to call the HTTP API, known by the SHA-256
// of its bearer token: the token itself is never stored.
type Producer struct {
	ID   string
	hash [32]byte
}

var producerIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseProducers parses "producer-id=sha256hex(token),...". A producer
// may be listed with several tokens, so that a new token can be given
// out before the old one is removed (rotation without a cut-over). Errors
// name the entry and never repeat a hash.
func ParseProducers(s string) ([]Producer, error) {
	var out []Producer
	owner := map[[32]byte]string{}
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		id, hexHash, ok := strings.Cut(pair, "=")
		id, hexHash = strings.TrimSpace(id), strings.TrimSpace(hexHash)
		switch {
		case !ok:
			return nil, fmt.Errorf("producer %d is not producer-id=sha256hex(token)", i+1)
		case !producerIDRe.MatchString(id):
			return nil, fmt.Errorf("producer %d: id must be 1-128 letters, digits, '.', '_' or '-'", i+1)
		}
		b, err := hex.DecodeString(hexHash)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("producer %q: the token hash must be 64 hex digits (sha256 of the token), not the token itself", id)
		}
		p := Producer{ID: id}
		copy(p.hash[:], b)
		if prev, dup := owner[p.hash]; dup {
			return nil, fmt.Errorf("producer %q: the same token hash is listed for producer %q too; a token names one producer", id, prev)
		}
		owner[p.hash] = id
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no producers: want a list of producer-id=sha256hex(token)")
	}
	return out, nil
}

// NewProducer makes a producer from its clear token, for tests and tools.
func NewProducer(id, token string) Producer {
	return Producer{ID: id, hash: sha256.Sum256([]byte(token))}
}

// HashToken returns the hex SHA-256 of a token, as OKTAQ_API_TOKENS wants it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// matchProducer returns the producer whose token this is. Every producer
// is compared, in constant time, so timing tells nothing about which
// matched or how closely.
func matchProducer(producers []Producer, token string) (string, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range producers {
		if subtle.ConstantTimeCompare(producers[i].hash[:], h[:]) == 1 {
			found = i
		}
	}
	if found < 0 || token == "" {
		return "", false
	}
	return producers[found].ID, true
}
