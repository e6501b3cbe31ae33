package okta

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// DefaultUserViewTTL is how long a user view's Okta data is reused
// (OKTAQ_USER_VIEW_TTL): long enough that a side panel opened by several
// agents costs Okta one set of calls, short enough that an agent sees a
// change made a minute ago.
const DefaultUserViewTTL = 30 * time.Second

// aliasTTL is how long a login's user id is remembered, to start every
// read of a cold view at once. Ids never change; a login can be renamed,
// which the read notices (the login then names another id) and corrects.
const aliasTTL = 24 * time.Hour

// UserReaderOptions configure a UserReader.
type UserReaderOptions struct {
	// Redis caches what Okta said, shared by every API process; nil
	// caches nothing.
	Redis redis.UniversalClient
	// TTL of a cached view; 0 means DefaultUserViewTTL, negative turns
	// the cache off.
	TTL    time.Duration
	Clock  func() time.Time
	Logger *slog.Logger
}

// UserReader answers user views for the connections it has executors
// for. It is safe for concurrent use.
type UserReader struct {
	execs map[string]*Executor
	rdb   redis.UniversalClient
	ttl   time.Duration
	clock func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight
}

// flight is one read of Okta that concurrent asks of the same view share,
// so N agents opening a cold side panel at once cost one set of calls.
type flight struct {
	done chan struct{}
	rec  *userRecord
	err  error
}

// NewUserReader reads through execs, by connection name.
func NewUserReader(execs map[string]*Executor, opts UserReaderOptions) *UserReader {
	r := &UserReader{execs: execs, rdb: opts.Redis, ttl: opts.TTL, clock: opts.Clock, log: opts.Logger, flights: map[string]*flight{}}
	if r.ttl == 0 {
		r.ttl = DefaultUserViewTTL
	}
	if r.ttl < 0 {
		r.rdb = nil
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r
}

// ReadUser answers the view of ref (an Okta id or a full login, already
// validated) on connection, with every action's verdict for this user
// regardless of role (tasks.UserView.ForRole applies the role). fresh
// skips the cache (and refreshes it). Errors are *tasks.ViewError, or the
// context's.
func (r *UserReader) ReadUser(ctx context.Context, connection, ref string, fresh bool) (*tasks.UserView, error) {
	if connection == "" {
		connection = tasks.DefaultConnection
	}
	e := r.execs[connection]
	if e == nil {
		return nil, &tasks.ViewError{Code: tasks.CodeUnknownConnection, Summary: "this API process has no Okta credentials for connection " + connection}
	}
	key := viewKey(connection, ref)
	if !fresh {
		if rec := r.cached(ctx, key); rec != nil {
			v := e.view(rec)
			v.Cached = true
			return v, nil
		}
	}
	rec, err := r.shared(ctx, key, func(ctx context.Context) (*userRecord, error) { return r.fetch(ctx, e, connection, ref) })
	if err != nil {
		return nil, viewError(err, r.clock())
	}
	return e.view(rec), nil
}

// shared runs read once for all callers asking for key at the same time.
// The read runs detached from the first caller's context (others wait on
// it), bounded by the executor's own timeouts; each caller stops waiting
// when its own context ends.
func (r *UserReader) shared(ctx context.Context, key string, read func(context.Context) (*userRecord, error)) (*userRecord, error) {
	r.mu.Lock()
	f, ok := r.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		r.flights[key] = f
		go func() {
			f.rec, f.err = read(context.WithoutCancel(ctx))
			r.mu.Lock()
			delete(r.flights, key)
			r.mu.Unlock()
			close(f.done)
		}()
	}
	r.mu.Unlock()
	select {
	case <-f.done:
		return f.rec, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errStaleAlias: a remembered login named another user than the login
// does now.
var errStaleAlias = errors.New("the login's remembered user id is stale")

// fetch reads Okta and caches the record under the id and the login.
func (r *UserReader) fetch(ctx context.Context, e *Executor, connection, ref string) (*userRecord, error) {
	id := ""
	if tasks.IsUserID(ref) {
		id = ref
	} else if r.rdb != nil {
		id, _ = r.rdb.Get(ctx, aliasKey(connection, ref)).Result()
	}
	rec, err := e.readRecord(ctx, ref, id)
	if err == nil && id != "" && rec.User.ID != id {
		err = errStaleAlias
	}
	if errors.Is(err, errStaleAlias) {
		rec, err = e.readRecord(ctx, ref, "")
	}
	if err != nil {
		return nil, err
	}
	r.store(ctx, connection, rec)
	return rec, nil
}

func (r *UserReader) cached(ctx context.Context, key string) *userRecord {
	if r.rdb == nil {
		return nil
	}
	b, err := r.rdb.Get(ctx, key).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.log.WarnContext(ctx, "user view cache unreadable: reading Okta", "err", err)
		}
		return nil
	}
	var rec userRecord
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	return &rec
}

// store caches rec under the user's id and login, and remembers the
// login's id. A cache that cannot be written only costs the next view
// its calls.
func (r *UserReader) store(ctx context.Context, connection string, rec *userRecord) {
	if r.rdb == nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	login := rec.User.Profile.Login
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, viewKey(connection, rec.User.ID), b, r.ttl)
		if login != "" {
			p.Set(ctx, viewKey(connection, login), b, r.ttl)
			p.Set(ctx, aliasKey(connection, login), rec.User.ID, aliasTTL)
		}
		return nil
	})
	if err != nil {
		r.log.WarnContext(ctx, "user view cache not written", "err", err)
	}
}

// Keys hold a connection name and a user id or login, never a secret.
// Logins are case-insensitive in Okta, so they are lowered.
func viewKey(connection, ref string) string {
	return "oktaq:userview:" + connection + ":" + strings.ToLower(ref)
}

func aliasKey(connection, login string) string {
	return "oktaq:userview:alias:" + connection + ":" + strings.ToLower(login)
}
