// Package oktasim is an in-memory Okta org serving the parts of the Management API that oktaq
// uses, as Okta answers them (okta-api-notes.md, the okta-sdk-golang v5.0.2 spec and recorded
// responses). Where it is kinder than Okta our worker would fail in production and no test would
// say so, so where Okta's behaviour is unknown it picks the strictest plausible answer.
// It imports nothing of oktaq and is safe for concurrent use.
//
// # Use
//
//	sim := oktasim.New(oktasim.Options{Clock: clock.Now})
//	_ = sim.Load(oktasim.DemoSeed())         // or LoadSeed(file) for `oktaq sim --seed`
//	srv := sim.Start()                       // or serve sim.Handler() and call SetBaseURL
//	defer srv.Close()
//
// With the SDK, set cfg.Host from the parsed URL: the SDK drops the port of OrgUrl.
//
// # API
//
// Construction: New(Options), Load(Seed), LoadSeed(io.Reader), DemoSeed(),
// AddClient(SeedClient), AddAPIToken(string), Handler(), Start(), URL(), SetBaseURL(string).
// Inspection: User(idOrLogin) User, GroupID(name), AppID(label), Requests(), ResetRequests(),
// Emails(), TokenRequests(), Drops(), BucketFor(method, path).
// Control: SetFaults(Faults), ParseFaults(spec) (the `oktaq sim --faults` SPEC),
// CurrentFaults(), Options.FaultSeed (repeatable fault draws), StickTransition(userID, d), SetUserStatus(idOrLogin, status),
// RevokeClient(id), ExpireTokens(), IssueToken(clientID, scopes...), Drain(bucket).
// Constants: Status*, Group*, ActionBucket,
// DemoClientID/DemoClientSecret/DemoAPIToken, ManageScopes, DefaultBuckets().
//
// # Endpoints
//
// GET/DELETE /api/v1/users/{idOrLogin}; GET /api/v1/users (q, filter, search, limit, after);
// GET /api/v1/users/{id}/groups and /factors; DELETE /api/v1/users/{id}/sessions?oauthTokens=;
// POST /api/v1/users/{id}/lifecycle/{activate, reactivate, deactivate, suspend, unsuspend,
// unlock, reset_password, expire_password[?tempPassword=true], expire_password_with_temp_password,
// reset_factors}; GET /api/v1/groups (q, search), /groups/{id}, /groups/{id}/users;
// PUT/DELETE /api/v1/groups/{gid}/users/{uid}; GET/POST /api/v1/apps/{aid}/users;
// GET/DELETE /api/v1/apps/{aid}/users/{uid}; POST /oauth2/v1/token. Any other path: 404
// E0000007; a known path with another method: 405 E0000022. The simulator's own controls,
// for black-box tests of separate processes: GET/DELETE /__sim/requests (the request log as
// JSON lines: method, path, query, principal, status, applied), GET/PUT /__sim/faults (a SPEC).
//
// Order of checks, as Okta's edge does it: concurrency, injected faults, rate limit,
// authentication, routing, scope, admin role, then the handler (with org state locked).
//
// # Authorization
//
// "SSWS <token>" (seeded api_tokens) has every scope. "Bearer <token>" comes from
// /oauth2/v1/token or IssueToken and carries the granted scopes; a manage scope includes its
// read scope. Scopes: okta.users.read for user GETs, groups and factors; okta.users.manage for
// lifecycle, DELETE user and DELETE sessions; okta.groups.read/manage; okta.apps.read/manage.
// A missing scope is 403 with an empty body and WWW-Authenticate naming the scope.
// SeedClient.DeniedPermissions names admin-role permissions the client lacks, giving 403
// E0000006 with a valid token: user.read, user.activate, user.reactivate, user.deactivate,
// user.suspend, user.unsuspend, user.unlock, user.reset_password, user.expire_password,
// user.reset_mfa, user.clear_sessions, user.delete, group.read, user.groups.update, app.read,
// user.apps.update.
//
// # Rate limits
//
// Buckets (DefaultBuckets, Enterprise column, per Window): users 600, user-get (GET
// /users/{id}) 1000, user-update 600, groups 600, group 600, app 600, apps* 100, token 600,
// api (everything else) 600, and user-actions 600 for lifecycle, sessions, factors and group
// membership, which Okta does not publish: override it with Bucket{Name: ActionBucket, Limit: n}.
// Exact pattern beats prefix, longer prefix beats shorter, method-specific beats any.
// Windows start at a bucket's first call. Each principal (API token or client) may use
// floor(PrincipalShare*Limit); X-Rate-Limit-Limit reports that per-principal figure and
// Remaining the smaller of the principal's and the org's remainder. Concurrency counts requests
// in flight including injected latency; above it: 429 with Limit and Remaining 0 and Reset =
// now+1s. The token endpoint counts against "token", keyed by client_id.
//
// # Choices where the notes say "verify"
//
//   - No Authorization header: 403 E0000005 "Invalid session" (Okta falls back to session
//     auth). Bad, expired or revoked tokens: 401 E0000011.
//   - activate from PROVISIONED, RECOVERY, PASSWORD_EXPIRED, LOCKED_OUT, SUSPENDED: 403
//     E0000038 (ACTIVE: E0000016). Activate goes to ACTIVE only for users seeded with a
//     password, else PROVISIONED.
//   - reactivate: PROVISIONED only (the 2024.06 rule, not the newer RECOVERY addition).
//   - deactivate of a DEPROVISIONED user: 400 E0000001.
//   - unlock: only LOCKED_OUT users with credentials.provider OKTA; everything else 403 E0000032.
//   - reset_password: from ACTIVE, PASSWORD_EXPIRED, LOCKED_OUT, RECOVERY (others 403
//     E0000038, never E0000017); sendEmail is required (400 E0000028 without it); every call
//     issues a new link and, with sendEmail=true, another email. provider=FEDERATION is ignored.
//   - expire_password and the temp-password forms: from the same four states, a repeat answers
//     200; others 403 E0000038. Each temp-password call returns a new password.
//   - reset_factors with no enrolled factor, or on a STAGED/DEPROVISIONED user: 403 E0000038.
//   - Lifecycle calls and DELETE on a user with transitioningToStatus set: 409 E0000112.
//   - DELETE sessions: 204 in every status, also with nothing to clear.
//   - Group membership of APP_GROUP or BUILT_IN groups: 403 E0000006. Adding a DEPROVISIONED
//     user: 400 E0000001. Removing a non-member: 204. Membership and app calls take user ids
//     only (a login is 404 E0000007); user GETs and lifecycle calls also take a login or an
//     unambiguous login short name.
//   - App assignment of a STAGED or DEPROVISIONED user: 403 E0000117. Assigning an assigned
//     user: 200 with the existing assignment (no 409 E0000062). Unassigning a non-assigned
//     user: 404 E0000007.
//   - _links list exactly the lifecycle calls the simulator accepts in the current status, and
//     none while a transition is pending. Recorded Okta responses show suspend, resetPassword
//     and resetFactors on a fresh PROVISIONED user, so a link's presence is no promise on real
//     Okta; the simulator is stricter and shows resetFactors only with enrolled factors.
//   - Group q: case-insensitive name prefix over every group type, at most limit (default
//     300), no Link header. User q leaves out DEPROVISIONED users; search and filter do not.
//     filter accepts only status, lastUpdated, id and profile.login/email/firstName/lastName
//     with eq (lastUpdated also gt/ge/lt/le); anything else is 400 E0000031.
//   - Token endpoint: parameters are read from the query string too (the SDK's private-key mode
//     sends them there); an assertion's exp may be at most 1h (+1 min skew) ahead; a reused jti
//     is refused; unknown or revoked client: 401 invalid_client.
//   - Injected 502/503 answers have an HTML body, like a load balancer; 500 is E0000009.
package oktasim
