package okta

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Token sharing. An access token lives an hour and Okta's token endpoint
// has its own small bucket, so N workers must not each fetch one. A token
// is kept in memory and in Redis under
// "oktaq:token:{connection}:{sha256(client_id+scopes)[:16]}" with a TTL of
// expires_in - 60 s, so that it is refreshed a minute ahead of expiry. The
// Redis value is sealed with AES-256-GCM under a key derived from the
// client secret or private key: someone who can read Redis but does not
// hold the credentials gets nothing usable. One worker fetches at a time:
// the one that wins "SET lock NX PX"; the others wait for its token.

const (
	refreshAhead = 60 * time.Second
	lockTTL      = 10 * time.Second
	lockWait     = 5 * time.Second
)

type tokenCache struct {
	fetch fetchFunc
	clock func() time.Time
	log   *slog.Logger
	rdb   redis.UniversalClient // nil: in-process only
	key   string
	aead  cipher.AEAD

	mu  sync.Mutex // held while fetching: one fetch per process
	cur *token
}

func newTokenCache(conn *Connection, fetch fetchFunc, rdb redis.UniversalClient, clock func() time.Time, log *slog.Logger) *tokenCache {
	c := conn.Credentials
	id := sha256.Sum256([]byte(c.ClientID + "\x00" + strings.Join(conn.Scopes, " ")))
	material := sha256.Sum256([]byte("oktaq token cache v1\x00" + c.ClientID + "\x00" + c.ClientSecret.Reveal() + "\x00" + c.PrivateKeyPEM.Reveal()))
	block, _ := aes.NewCipher(material[:])
	aead, _ := cipher.NewGCM(block)
	return &tokenCache{fetch: fetch, clock: clock, log: log, rdb: rdb, aead: aead,
		key: "oktaq:token:" + conn.Name + ":" + hex.EncodeToString(id[:])[:16]}
}

func (c *tokenCache) fresh(t *token) bool {
	return t != nil && c.clock().Add(refreshAhead).Before(t.Expiry)
}

// get returns a token valid for at least another minute.
func (c *tokenCache) get(ctx context.Context) (*token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fresh(c.cur) {
		return c.cur, nil
	}
	if c.rdb == nil {
		return c.fetchAndKeep(ctx)
	}
	if t := c.load(ctx); t != nil {
		c.cur = t
		return t, nil
	}
	lock := c.key + ":lock"
	owner := randomHex()
	won, err := c.rdb.SetNX(ctx, lock, owner, lockTTL).Result()
	if err != nil {
		c.log.WarnContext(ctx, "token share unavailable, fetching alone", "err", err)
		return c.fetchAndKeep(ctx)
	}
	if !won {
		deadline := time.Now().Add(lockWait)
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, &TransientError{Err: ctx.Err()}
			case <-time.After(50 * time.Millisecond):
			}
			if t := c.load(ctx); t != nil {
				c.cur = t
				return t, nil
			}
		}
		// The holder died or is slow: fetch rather than fail.
		return c.fetchAndKeep(ctx)
	}
	defer c.unlock(lock, owner)
	if t := c.load(ctx); t != nil { // stored while we took the lock
		c.cur = t
		return t, nil
	}
	return c.fetchAndKeep(ctx)
}

func (c *tokenCache) fetchAndKeep(ctx context.Context) (*token, error) {
	t, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = t
	c.store(ctx, t)
	return t, nil
}

// drop forgets value (it drew a 401), here and in Redis if Redis still
// holds it.
func (c *tokenCache) drop(ctx context.Context, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.Value == value {
		c.cur = nil
	}
	if c.rdb == nil {
		return
	}
	if t := c.load(ctx); t != nil && t.Value == value {
		c.rdb.Del(ctx, c.key)
	}
}

func (c *tokenCache) store(ctx context.Context, t *token) {
	if c.rdb == nil {
		return
	}
	ttl := t.Expiry.Sub(c.clock()) - refreshAhead
	if ttl <= 0 {
		return
	}
	plain, _ := json.Marshal(t)
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := c.aead.Seal(nonce, nonce, plain, []byte(c.key))
	if err := c.rdb.Set(ctx, c.key, sealed, ttl).Err(); err != nil {
		c.log.WarnContext(ctx, "token share: store failed", "err", err)
	}
}

func (c *tokenCache) load(ctx context.Context) *token {
	b, err := c.rdb.Get(ctx, c.key).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			c.log.WarnContext(ctx, "token share: load failed", "err", err)
		}
		return nil
	}
	n := c.aead.NonceSize()
	if len(b) < n {
		return nil
	}
	plain, err := c.aead.Open(nil, b[:n], b[n:], []byte(c.key))
	if err != nil {
		return nil // sealed under other credentials (rotated secret)
	}
	var t token
	if json.Unmarshal(plain, &t) != nil || !c.fresh(&t) {
		return nil
	}
	return &t
}

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (c *tokenCache) unlock(lock, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	unlockScript.Run(ctx, c.rdb, []string{lock}, owner)
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
