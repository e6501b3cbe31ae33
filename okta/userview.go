package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// The user view's reads. Cost per view, cold: 1 user GET, 1 groups page
// (200 a page), 1 factors list, 1 blocks list and 1 apps page (200 a page,
// with okta.apps.read), all in parallel, so a view takes about as long as
// the slowest call. A ref that is a login needs the user's id for the other
// four: the first read of a login runs the user GET first (two rounds);
// the id it finds is remembered (aliasTTL), so later cold reads of that
// login run in one round and check that the login still names that id.
//
// Every call goes through the shared limiter at PriorityDefault: above
// bulk work (an agent is waiting), below critical, whose reserve is kept
// for security responses: a side panel opened by many agents during an
// incident must not spend the headroom that suspends need.

// viewUser is the user as the view reads it.
type viewUser struct {
	oktaUser
	Created         *time.Time `json:"created"`
	Activated       *time.Time `json:"activated"`
	LastLogin       *time.Time `json:"lastLogin"`
	PasswordChanged *time.Time `json:"passwordChanged"`
	StatusChanged   *time.Time `json:"statusChanged"`
	// RawProfile is the whole profile (read apart: oktaUser has the
	// login under the same JSON name).
	RawProfile map[string]any `json:"rawProfile"`
}

// profileBasics are the profile attributes the view shows (strings only;
// custom attributes stay in Okta).
var profileBasics = []string{"firstName", "lastName", "displayName", "nickName", "email", "secondEmail",
	"title", "department", "division", "organization", "employeeNumber", "manager", "mobilePhone",
	"primaryPhone", "city", "countryCode", "locale", "timezone", "userType"}

// userRecord is what Okta said, as cached: the view is computed from it per
// request, so a cached record serves every role.
type userRecord struct {
	User      viewUser           `json:"user"`
	Groups    []tasks.UserGroup  `json:"groups"`
	Factors   []tasks.UserFactor `json:"factors"`
	Apps      []tasks.UserApp    `json:"apps"`
	Blocks    int                `json:"blocks"` // -1: not read
	Omitted   []tasks.Omission   `json:"omitted,omitempty"`
	FetchedAt time.Time          `json:"fetched_at"`
}

// facts are judge's facts from the record.
func (r *userRecord) facts() userFacts {
	f := userFacts{factors: -1, blocks: r.Blocks}
	if r.Factors != nil {
		f.factors = len(r.Factors)
	}
	return f
}

// readRecord reads everything the view shows of ref. id, when known (ref
// is an id, or a remembered alias of a login), lets every read start at
// once.
func (e *Executor) readRecord(ctx context.Context, ref, id string) (*userRecord, error) {
	ctx = ratelimit.WithPriority(ctx, ratelimit.PriorityDefault)
	rec := &userRecord{FetchedAt: e.clock().UTC(), Blocks: -1}
	var userErr error
	if id == "" {
		u, err := e.readViewUser(withRecorder(ctx, &recorder{}), ref)
		if err != nil {
			return nil, err
		}
		rec.User, id = *u, u.ID
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	section := func(name string, read func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each read has its own recorder: do() classifies the last
			// call of its own recorder. All count as calls of an
			// operation under way for the limiter's slots: the five go
			// in one round, none held back by the slots kept for new
			// operations (they would wait a round for one).
			err := read(withRecorder(ctx, &recorder{continued: true}))
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if o, ok := omission(name, err); ok {
				rec.Omitted = append(rec.Omitted, o)
				return
			}
			errs = append(errs, err)
		}()
	}
	if rec.User.ID == "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := e.readViewUser(withRecorder(ctx, &recorder{continued: true}), ref)
			if err == nil {
				rec.User = *u
			}
			userErr = err
		}()
	}
	section("groups", func(ctx context.Context) error {
		g, err := e.viewGroups(ctx, id)
		rec.Groups = g
		return err
	})
	section("factors", func(ctx context.Context) error {
		f, err := e.listFactors(ctx, id)
		if err == nil {
			rec.Factors = make([]tasks.UserFactor, 0, len(f))
			for _, x := range f {
				rec.Factors = append(rec.Factors, tasks.UserFactor{ID: x.ID, Type: x.FactorType, Provider: x.Provider, Status: x.Status})
			}
		}
		return err
	})
	section("blocks", func(ctx context.Context) error {
		n, err := e.countBlocks(ctx, id)
		if err == nil {
			rec.Blocks = n
		}
		return err
	})
	if o, ok := e.appsReadable(); !ok {
		mu.Lock()
		rec.Omitted = append(rec.Omitted, o)
		mu.Unlock()
	} else {
		section("apps", func(ctx context.Context) error {
			a, err := e.userApps(ctx, id)
			rec.Apps = a
			return err
		})
	}
	wg.Wait()
	if userErr != nil {
		return nil, userErr
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	slices.SortFunc(rec.Omitted, func(a, b tasks.Omission) int { return strings.Compare(a.Section, b.Section) })
	return rec, nil
}

// readViewUser is getUser for the view: the whole user, with the same
// check that Okta answered with the user named. 1 call.
func (e *Executor) readViewUser(ctx context.Context, ref string) (*viewUser, error) {
	// Raw (rawread.go): the SDK's model of the user is not what the view
	// shows, and decoding it cost as much as the rest of the read.
	c, err := e.read(ctx, "/api/v1/users/"+url.PathEscape(ref))
	if err != nil {
		return nil, err
	}
	var u viewUser
	var profile struct {
		Profile map[string]any `json:"profile"`
	}
	if json.Unmarshal(c.body, &u) != nil || json.Unmarshal(c.body, &profile) != nil || u.ID == "" {
		return nil, &TransientError{Err: errors.New("okta answered a user read with an unreadable body"), Status: c.Status}
	}
	u.RawProfile = profile.Profile
	if u.ID != ref && !strings.EqualFold(u.Profile.Login, ref) {
		return nil, &PermanentError{Code: tasks.CodeUserMismatch, Status: c.Status, RequestID: c.RequestID,
			Summary: fmt.Sprintf("Okta resolved %q to user %s (%s), not the user named", ref, u.ID, u.Profile.Login)}
	}
	return &u, nil
}

// viewGroups reads every page of GET /users/{id}/groups.
func (e *Executor) viewGroups(ctx context.Context, id string) ([]tasks.UserGroup, error) {
	groups, err := e.listUserGroups(ctx, id)
	out := make([]tasks.UserGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, tasks.UserGroup{ID: g.ID, Name: g.Profile.Name, Type: g.Type})
	}
	return out, err
}

// userApps reads every page of GET /apps?filter=user.id eq "id": the apps
// assigned to the user, directly or through a group (okta.apps.read).
func (e *Executor) userApps(ctx context.Context, id string) ([]tasks.UserApp, error) {
	filter := fmt.Sprintf("user.id eq %q", id)
	apps, err := listAll[oktaApp](ctx, e, "user's apps", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		// The SDK's oneOf decoder fails on app types it does not know;
		// the raw body is read instead.
		req := e.api.ApplicationAPI.ListApplications(ctx).Filter(filter).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	})
	out := make([]tasks.UserApp, 0, len(apps))
	for _, a := range apps {
		out = append(out, tasks.UserApp{ID: a.ID, Label: a.Label})
	}
	return out, err
}

// appsReadable says whether the connection may read app assignments:
// okta.apps.read enabled (or its manage scope) and, as far as the current
// token shows, granted.
func (e *Executor) appsReadable() (tasks.Omission, bool) {
	o := tasks.Omission{Section: "apps", Scope: tasks.ScopeAppsRead}
	if !e.conn.HasScope(tasks.ScopeAppsRead) {
		o.Reason = "the connection does not enable " + tasks.ScopeAppsRead + " (or " + tasks.ScopeAppsManage + "), so app assignments are not read"
		return o, false
	}
	if g := e.ScopeGrants(); g != nil && !g[tasks.ScopeAppsRead] && !g[tasks.ScopeAppsManage] {
		o.Reason = "Okta does not grant " + tasks.ScopeAppsRead + " to oktaq's app, so app assignments are not read"
		return o, false
	}
	return o, true
}

// omission turns a refusal of one section (a missing scope, an admin role
// that does not cover it) into a note instead of an error.
func omission(section string, err error) (tasks.Omission, bool) {
	var p *PermanentError
	if !errors.As(err, &p) || p.Status != 403 {
		return tasks.Omission{}, false
	}
	o := tasks.Omission{Section: section, Scope: p.Scope}
	switch p.Code {
	case tasks.CodeInsufficientScope:
		o.Reason = "Okta's token for oktaq lacks " + p.Scope + ": not read"
	case tasks.CodeAdminRoleMissing:
		o.Reason = "oktaq's admin role in Okta does not cover reading this: not read"
	default:
		o.Reason = "Okta refused the read (" + string(p.Code) + "): " + p.Summary
	}
	return o, true
}

// view computes the role-free view from a record: the user, and for every
// action the executor's verdict on this user now (judge), with the scopes
// Okta does not grant. Roles and enabled scopes are applied by
// tasks.UserView.ForRole.
func (e *Executor) view(rec *userRecord) *tasks.UserView {
	u := &rec.User
	v := &tasks.UserView{ID: u.ID, Login: u.Profile.Login, Status: u.Status, TransitioningToStatus: u.TransitioningToStatus,
		Provider: tasks.UserProvider{Type: u.Credentials.Provider.Type, Name: u.Credentials.Provider.Name},
		Profile:  map[string]string{}, Created: u.Created, Activated: u.Activated, LastLogin: u.LastLogin,
		PasswordChanged: u.PasswordChanged, StatusChanged: u.StatusChanged,
		Groups: rec.Groups, Factors: rec.Factors, Apps: rec.Apps, Omitted: rec.Omitted,
		Connection: e.conn.Name, FetchedAt: rec.FetchedAt}
	for _, k := range profileBasics {
		if s, ok := u.RawProfile[k].(string); ok && s != "" {
			v.Profile[k] = s
		}
	}
	v.Email = v.Profile["email"]
	grants := e.ScopeGrants()
	facts := rec.facts()
	for _, act := range tasks.Actions() {
		args, _ := tasks.New(act)
		a := tasks.UserAction{Action: act}
		if s := notGranted(act, grants); s != "" {
			a.Code, a.Reason = tasks.CodeScopeNotGranted, "Okta does not grant "+s+" to oktaq's app: the Okta admin must grant it"
			v.Actions = append(v.Actions, a)
			continue
		}
		if (needsFactors(act, &u.oktaUser) && facts.factors < 0) || (needsBlocks(act, &u.oktaUser) && facts.blocks < 0) {
			a.Code, a.Reason = "unreadable", "oktaq could not read what decides this (see omitted)"
			v.Actions = append(v.Actions, a)
			continue
		}
		vd := judge(args, &u.oktaUser, facts)
		a.Available, a.Reason = vd.available(), vd.reason
		if !a.Available {
			a.Code = vd.code
		}
		v.Actions = append(v.Actions, a)
	}
	return v
}

// notGranted is the first scope act needs that the current token shows
// Okta does not grant ("" when all are, or grants are unknown).
func notGranted(act tasks.Action, grants map[string]bool) string {
	if grants == nil {
		return ""
	}
	for _, s := range act.Scopes() {
		if g, known := grants[s]; known && !g {
			return s
		}
	}
	return ""
}

// viewError maps an executor error onto what the view answers.
func viewError(err error, now time.Time) error {
	var (
		p    *PermanentError
		rl   *RateLimitedError
		down *ConnectionDownError
		un   *UnauthorizedError
		tr   *TransientError
	)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &rl):
		return &tasks.ViewError{Code: tasks.CodeRateLimited, Summary: "Okta's rate limit for this connection is spent (bucket " + rl.Bucket + ")", RetryAt: rl.Until}
	case errors.As(err, &down):
		return &tasks.ViewError{Code: tasks.CodeConnectionDown, Summary: down.Error(), RetryAt: down.Until}
	case errors.As(err, &un):
		return &tasks.ViewError{Code: tasks.CodeUnauthorized, Summary: un.Error(), RetryAt: now.Add(time.Minute)}
	case errors.As(err, &p) && (p.Code == tasks.CodeNotFound || p.Code == "E0000007" || p.Status == 404):
		return &tasks.ViewError{Code: tasks.CodeNotFound, Summary: "no such user in Okta"}
	case errors.As(err, &p) && p.Code == tasks.CodeUserMismatch:
		return &tasks.ViewError{Code: tasks.CodeNotFound, Summary: p.Summary}
	case errors.As(err, &p):
		return &tasks.ViewError{Code: p.Code, Summary: p.Summary}
	case errors.As(err, &tr):
		return &tasks.ViewError{Code: tasks.CodeTransient, Summary: tr.Error(), RetryAt: now.Add(5 * time.Second)}
	}
	return &tasks.ViewError{Code: tasks.CodeTransient, Summary: err.Error(), RetryAt: now.Add(5 * time.Second)}
}
