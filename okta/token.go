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
//
// A failed fetch (the token endpoint refused or failed) stands for the
// whole connection until the next probe: it is kept in memory and in Redis
// under "...:down" with the time of the next probe on the executor's clock
// and the fingerprint of the credentials it was made with. Until then every
// task gets the same *ConnectionDownError at once, so N waiting tasks on M
// workers cost one token request per probe interval, not one each; and
// credentials that changed since (a rotated secret file) are probed at once.
//
// DPoP-bound tokens are not put in Redis: they are useless without the key,
// which stays in the process (dpop.go). The lock and the down record are
// shared all the same.

const (
	// scopeProbeFactor stretches the probe interval after a refusal for
	// scopes (nothing granted).
	scopeProbeFactor = 12
	refreshAhead     = 60 * time.Second
	// lockMargin is added to the token request's timeout for the lock's
	// TTL, so a slow probe keeps its lock until it has its answer.
	lockMargin = 5 * time.Second
	lockWait   = 5 * time.Second
)

type tokenCache struct {
	conn  string
	fetch fetchFunc
	creds *credentialSource
	clock func() time.Time
	log   *slog.Logger
	rdb   redis.UniversalClient // nil: in-process only
	share bool                  // tokens go to Redis (not with DPoP)
	key   string
	probe time.Duration
	lock  time.Duration // TTL of the fetch lock

	mu   sync.Mutex // held while fetching: one fetch per process
	cur  *token
	down *downRecord
}

// downRecord is a failed probe: the error and when the next may be made.
type downRecord struct {
	Code        string    `json:"c"`
	Summary     string    `json:"s"`
	Until       time.Time `json:"u"`
	Fingerprint string    `json:"f"`
}

func newTokenCache(conn *Connection, fetch fetchFunc, creds *credentialSource, rdb redis.UniversalClient,
	clock func() time.Time, log *slog.Logger, probe, requestTimeout time.Duration) *tokenCache {
	id := sha256.Sum256([]byte(conn.Credentials.ClientID + "\x00" + strings.Join(conn.Scopes, " ")))
	if probe <= 0 {
		probe = DefaultProbeInterval
	}
	return &tokenCache{conn: conn.Name, fetch: fetch, creds: creds, clock: clock, log: log, rdb: rdb,
		share: !conn.DPoP, probe: probe, lock: requestTimeout + lockMargin,
		key: "oktaq:token:" + conn.Name + ":" + hex.EncodeToString(id[:])[:16]}
}

// aead seals shared tokens under a key derived from the current client
// secret or private key.
func aeadFor(c Credentials) cipher.AEAD {
	material := sha256.Sum256([]byte("oktaq token cache v1\x00" + c.ClientID + "\x00" + c.ClientSecret.Reveal() + "\x00" + c.PrivateKeyPEM.Reveal()))
	block, _ := aes.NewCipher(material[:])
	aead, _ := cipher.NewGCM(block)
	return aead
}

func (d *downRecord) err(conn string) error {
	return &ConnectionDownError{Connection: conn, Code: d.Code, Summary: d.Summary, Until: d.Until}
}

// standing reports whether d still holds for credentials fp.
func (c *tokenCache) standing(d *downRecord, fp string) bool {
	return d != nil && d.Fingerprint == fp && c.clock().Before(d.Until)
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
	creds := c.creds.current()
	fp := creds.fingerprint()
	if c.standing(c.down, fp) {
		return nil, c.down.err(c.conn)
	}
	if c.rdb == nil {
		return c.fetchAndKeep(ctx, creds)
	}
	if t := c.load(ctx, creds); t != nil {
		c.cur = t
		return t, nil
	}
	if d := c.loadDown(ctx); c.standing(d, fp) {
		c.down = d
		return nil, d.err(c.conn)
	}
	lock := c.key + ":lock"
	owner := randomHex()
	won, err := c.rdb.SetNX(ctx, lock, owner, c.lock).Result()
	if err != nil {
		c.log.WarnContext(ctx, "token share unavailable, fetching alone", "err", err)
		return c.fetchAndKeep(ctx, creds)
	}
	if !won {
		deadline := time.Now().Add(lockWait)
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, &TransientError{Err: ctx.Err()}
			case <-time.After(50 * time.Millisecond):
			}
			if t := c.load(ctx, creds); t != nil {
				c.cur = t
				return t, nil
			}
			if d := c.loadDown(ctx); c.standing(d, fp) {
				c.down = d
				return nil, d.err(c.conn)
			}
			if c.rdb.Exists(ctx, lock).Val() == 0 {
				break // the holder is done (its token is its own) or died
			}
		}
		if c.rdb.Exists(ctx, lock).Val() == 1 {
			// Another worker's probe is slow (an unresponsive token
			// endpoint): one probe at a time, so wait for it, as a task
			// waits for a down connection.
			return nil, &ConnectionDownError{Connection: c.conn, Code: "probe_pending", Pending: true,
				Summary: "another worker is asking the token endpoint and has no answer yet", Until: c.clock().Add(c.probe)}
		}
		// The holder's answer may have landed just before its unlock.
		if t := c.load(ctx, creds); t != nil {
			c.cur = t
			return t, nil
		}
		if d := c.loadDown(ctx); c.standing(d, fp) {
			c.down = d
			return nil, d.err(c.conn)
		}
		return c.fetchAndKeep(ctx, creds)
	}
	defer c.unlock(lock, owner)
	if t := c.load(ctx, creds); t != nil { // stored while we took the lock
		c.cur = t
		return t, nil
	}
	if d := c.loadDown(ctx); c.standing(d, fp) {
		c.down = d
		return nil, d.err(c.conn)
	}
	return c.fetchAndKeep(ctx, creds)
}

// fetchAndKeep is one probe: a token is kept and shared; a refusal or
// failure of the token endpoint is kept and shared until the next probe.
func (c *tokenCache) fetchAndKeep(ctx context.Context, creds Credentials) (*token, error) {
	t, err := c.fetch(ctx)
	var down *ConnectionDownError
	if errors.As(err, &down) {
		wait := c.probe
		if scopeRefusal(err) {
			// Nothing granted: each probe costs a request per scope, and a
			// grant is made by hand in the Admin Console; probe less often
			// (changed credentials are still probed at once).
			wait = scopeProbeFactor * c.probe
		}
		down.Until = c.clock().Add(wait)
		c.down = &downRecord{Code: down.Code, Summary: down.Summary, Until: down.Until, Fingerprint: creds.fingerprint()}
		c.storeDown(ctx, c.down, wait)
		c.log.WarnContext(ctx, "connection down: token request failed", "code", down.Code, "summary", down.Summary,
			"next_probe", down.Until)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if c.down != nil {
		c.log.InfoContext(ctx, "connection up: token request succeeded")
	}
	c.down = nil
	if c.rdb != nil {
		c.rdb.Del(ctx, c.key+":down")
	}
	c.cur = t
	c.store(ctx, t, creds)
	return t, nil
}

func (c *tokenCache) storeDown(ctx context.Context, d *downRecord, wait time.Duration) {
	if c.rdb == nil {
		return
	}
	b, _ := json.Marshal(d)
	// The record's own Until (the executor's clock) decides; the TTL only
	// clears it away.
	if err := c.rdb.Set(ctx, c.key+":down", b, wait+30*time.Second).Err(); err != nil {
		c.log.WarnContext(ctx, "token share: storing the failed probe failed", "err", err)
	}
}

func (c *tokenCache) loadDown(ctx context.Context) *downRecord {
	b, err := c.rdb.Get(ctx, c.key+":down").Bytes()
	if err != nil {
		return nil
	}
	var d downRecord
	if json.Unmarshal(b, &d) != nil {
		return nil
	}
	return &d
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
	if t := c.load(ctx, c.creds.current()); t != nil && t.Value == value {
		c.rdb.Del(ctx, c.key)
	}
}

func (c *tokenCache) store(ctx context.Context, t *token, creds Credentials) {
	if c.rdb == nil || !c.share {
		return
	}
	aead := aeadFor(creds)
	ttl := t.Expiry.Sub(c.clock()) - refreshAhead
	if ttl <= 0 {
		return
	}
	plain, _ := json.Marshal(t)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, plain, []byte(c.key))
	if err := c.rdb.Set(ctx, c.key, sealed, ttl).Err(); err != nil {
		c.log.WarnContext(ctx, "token share: store failed", "err", err)
	}
}

func (c *tokenCache) load(ctx context.Context, creds Credentials) *token {
	if c.rdb == nil || !c.share {
		return nil
	}
	aead := aeadFor(creds)
	b, err := c.rdb.Get(ctx, c.key).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			c.log.WarnContext(ctx, "token share: load failed", "err", err)
		}
		return nil
	}
	n := aead.NonceSize()
	if len(b) < n {
		return nil
	}
	plain, err := aead.Open(nil, b[:n], b[n:], []byte(c.key))
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
