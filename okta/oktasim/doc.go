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
// CurrentFaults(), Options.FaultSeed (repeatable fault draws), StickTransition(userID, d),
// SetUserStatus(idOrLogin, status), RevokeClient(id), ExpireTokens(),
// IssueToken(clientID, scopes...), Drain(bucket), DisableFeature(perm),
// SetInsufficientScopeStatus401(bool), RotateDPoPNonce().
// Event hooks: SetEventHookOptions, DeliverEvents, RunEventDelivery, Events, HookDeliveries,
// PendingEvents, ConsoleSuspend.
// Constants: Status*, Group*, ActionBucket,
// DemoClientID/DemoClientSecret/DemoAPIToken, ManageScopes, DefaultBuckets().
//
// # Endpoints
//
// GET/DELETE /api/v1/users/{idOrLogin}; GET /api/v1/users (q, filter, search, limit, after);
// GET /api/v1/users/{id}/groups, /factors and /blocks; DELETE /api/v1/users/{id}/sessions?oauthTokens=;
// POST /api/v1/users/{id}/lifecycle/{activate, reactivate, deactivate, suspend, unsuspend,
// unlock, reset_password, expire_password[?tempPassword=true], expire_password_with_temp_password,
// reset_factors}; GET /api/v1/groups (q, search), /groups/{id}, /groups/{id}/users;
// PUT/DELETE /api/v1/groups/{gid}/users/{uid}; GET/POST /api/v1/apps/{aid}/users;
// GET/DELETE /api/v1/apps/{aid}/users/{uid}; POST /api/v1/users/{id}/factors/{fid}/verify
// (Okta Verify push: 201 WAITING with a poll link) and GET
// /api/v1/users/{id}/factors/{fid}/transactions/{tid} (WAITING until a test answers with
// AnswerPush: SUCCESS, REJECTED or TIMEOUT; TIMEOUT by itself after PushTimeout, 5 minutes;
// PushTransactions lists them); POST /oauth2/v1/token. Any other path: 404
// E0000007; a known path with another method: 405 E0000022. The simulator's own controls,
// for black-box tests of separate processes: GET/DELETE /__sim/requests (the request log as
// JSON lines: method, path, query, principal, status, applied), GET/PUT /__sim/faults (a SPEC).
//
// Event hooks (eventhooks.go, okta.eventHooks.manage; GETs .read): POST/GET /api/v1/eventHooks,
// GET/DELETE /api/v1/eventHooks/{id} (delete only when INACTIVE), POST .../lifecycle/{verify,
// activate, deactivate}. A hook is created ACTIVE and UNVERIFIED; verify sends the one-time GET
// with x-okta-verification-challenge and wants {"verification": challenge} back within 3 s. At
// most 25 active hooks and 300 event types a hook; a type that is not event-hook-eligible is 400
// E0000001. Every change an API call makes is logged as a System Log event (events.go) whose
// debugContext.debugData.requestId is that call's X-Okta-Request-Id: user.lifecycle.{activate,
// reactivate, deactivate, suspend, unsuspend, delete.initiated}, user.account.{unlock_by_admin,
// reset_password, expire_password}, user.mfa.factor.reset_all, user.session.clear,
// group.user_membership.{add, remove} and application.user_membership.{add, remove} (a membership
// call that changes nothing logs nothing). user.account.expire_password is not hook-eligible: it
// is logged (Events) but never delivered. ACTIVE, VERIFIED hooks get the events in Okta's
// envelope (com.okta.event_hook, data.events[]) when DeliverEvents runs (tests; no wall clock) or
// RunEventDelivery ticks (`oktaq sim`); EventHookOptions delay, hold, reverse, batch and
// duplicate them; a 5xx or no answer gets one retry, a 4xx none (HookDeliveries records each
// POST). ConsoleSuspend makes a change no client made, as an admin in the console would.
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
// A missing scope is 403 with an empty body and WWW-Authenticate naming the scope
// (SetInsufficientScopeStatus401 answers it 401, which RFC 6750 also allows).
// DisableFeature(perm) answers the endpoints of that admin-role permission 401 E0000015, as
// Okta does for a feature the org lacks.
//
// Clients (SeedClient.AppType): an OIN API service integration ("api_service_integration",
// the default without a public key) authenticates with its client secret, by
// client_secret_basic only; a custom service app ("service", the default with a public key)
// by private_key_jwt only: a client secret gets 401 invalid_client "Client Credentials
// requests to the Org Authorization Server must use the private_key_jwt
// token_endpoint_auth_method." A token request asks for granted scopes exactly: one scope not
// granted refuses the whole request (400 invalid_scope naming the refused scopes), none granted
// is 400 consent_required "You are not allowed any of the requested scopes."; a granted manage
// scope does not stand in for its read scope here (it does on the API).
//
// DPoP (SeedClient.RequireDPoP): the token request must carry a DPoP proof (typ dpop+jwt, alg
// ES256, a public jwk, signature by it, htm POST, htu the token URL, iat within 60 s, a jti
// not seen before) with the current nonce: without it 400 use_dpop_nonce and a DPoP-Nonce
// header; a bad proof is 400 invalid_dpop_proof. The token (token_type DPoP) is bound to the
// jwk's SHA-256 thumbprint (cnf.jkt). An API call with it must say "Authorization: DPoP" (as
// Bearer it is 401 E0000011) and carry a proof with htm, htu (scheme, host, decoded path, no
// query), iat, a fresh jti, ath (base64url SHA-256 of the token), signed by the bound key;
// else 401 E0000011 with WWW-Authenticate: DPoP error="invalid_dpop_proof".
// SeedClient.DeniedPermissions names admin-role permissions the client lacks, giving 403
// E0000006 with a valid token: user.read, user.activate, user.reactivate, user.deactivate,
// user.suspend, user.unsuspend, user.unlock, user.reset_password, user.expire_password,
// user.reset_mfa, user.clear_sessions, user.delete, group.read, user.groups.update, app.read,
// user.apps.update. SeedClient.AdminTargets limits the admin role to some users and groups (a
// group-scoped help-desk role): a call that changes a user outside them (neither listed nor a
// member of a listed group), or the membership of a group not listed, is 403 E0000006. Reads are
// not limited (unverified: Okta may also hide uncovered users from a scoped role's reads).
//
// # Rate limits
//
// Buckets follow Okta's own table (terraform-provider-okta,
// okta/internal/apimutex/rate_limit_lines.go), limits the Enterprise column, per Window:
// users 600 (GET/POST /users and everything under /users/{id}/: lifecycle, sessions,
// factors, a user's groups), user-get (GET /users/{id}) 1000, user-update 600, groups 600
// (/groups and /groups/{id}/*: members, membership changes), group (/groups/{id}) 600,
// app (/apps/{id}) 600, apps 100 (/apps and /apps/{id}/*: assignments), token 600, api
// (everything else) 600. ActionBucket is UsersBucket. Every client of the org draws on
// the same bucket: another integration listing users drains our suspends.
// Exact pattern beats prefix, longer prefix beats shorter, method-specific beats any.
// Windows start at a bucket's first call. Each principal (API token or client) may use
// floor(PrincipalShare*Limit). Which figure Okta's headers show under a share is not
// documented: with LimitHeader "share" (default) X-Rate-Limit-Limit is the per-principal
// figure and Remaining the smaller of the principal's and the org's remainder; with "org"
// they show the org's limit and remainder and say nothing of the share (the 429 comes with
// Remaining above 0). Concurrency counts requests
// in flight including injected latency; above it: 429 with Limit and Remaining 0 and Reset =
// now+1s. The token endpoint counts against "token", keyed by client_id.
//
// # Corrections to ../shared/okta-api-notes.md
//
//   - Section 6 says the bucket of lifecycle, sessions, factors and membership calls is
//     unknown and to key the limiter by the observed limit. Okta's generated table
//     (terraform-provider-okta rate_limit_lines.go) says it: /api/v1/users/{id}/* counts
//     against /api/v1/users (with the user list), /api/v1/groups/{id}/users* against
//     /api/v1/groups, /api/v1/apps/{id}/users* against /api/v1/apps. The errata are right.
//   - Section 3 names one `Link: <...>; rel="next"` header. Okta sends self and next as two
//     headers (self first); reading Header.Get("Link") sees only self. The errata are right.
//   - Section 6 "verify which limit the headers report when the share applies" stays
//     unverified; the simulator shows either (RateLimits.LimitHeader) and the limiter is
//     tested with both: with the org's figure it learns from the first 429 what the headers
//     hide.
//   - GET /api/v1/users/me has its own bucket in Okta's table; the simulator counts it as
//     user-get.
//
// # Choices where the notes say "verify"
//
//   - No Authorization header: 403 E0000005 "Invalid session" (Okta falls back to session
//     auth). Bad, expired or revoked tokens: 401 E0000011.
//   - activate from PROVISIONED, RECOVERY, PASSWORD_EXPIRED, LOCKED_OUT, SUSPENDED: 403
//     E0000038 (ACTIVE: E0000016). Activate goes to ACTIVE only for users seeded with a
//     password, else PROVISIONED.
//   - reactivate: PROVISIONED or RECOVERY (the current spec); the status stays, a new activation
//     link or email is issued. activate on PROVISIONED is 403 E0000038 (it does not restart).
//   - deactivate of a DEPROVISIONED user: 400 E0000001.
//   - unlock: LOCKED_OUT users, and ACTIVE/RECOVERY/PASSWORD_EXPIRED users blocked from unknown
//     devices (seed blocked_unknown_devices), with credentials.provider OKTA; everything else 403
//     E0000032. GET /users/{id}/blocks shows ANY_DEVICES for LOCKED_OUT and UNKNOWN_DEVICES for a
//     blocked user; the unlock link is shown only for LOCKED_OUT (links follow policy).
//   - Providers: seed source OKTA, ACTIVE_DIRECTORY, LDAP, FEDERATION or SOCIAL, rendered as
//     credentials.provider {type, name} (names: OKTA, corp.example.com, ldap.example.com,
//     FEDERATION, Google). reset_password on a FEDERATION or SOCIAL user converts them to OKTA
//     (the spec: the default call does). expire_password converting them too is unverified: the
//     safe reading. On AD/LDAP users reset and expire apply as for OKTA users (unverified whether
//     Okta writes to the directory).
//   - suspend: ACTIVE only (400 E0000001 otherwise, as the spec says), although recorded
//     PROVISIONED users show the suspend link; whether Okta accepts it there is unverified.
//   - reset_password: from ACTIVE, PASSWORD_EXPIRED, LOCKED_OUT, RECOVERY (others 403
//     E0000038, never E0000017); sendEmail is required (400 E0000028 without it); every call
//     issues a new link and, with sendEmail=true, another email. provider=FEDERATION is ignored;
//     a federated or social user is converted to OKTA (see Providers).
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
//   - _links list the lifecycle calls the simulator accepts in the current status, none while a
//     transition is pending, with the recorded exceptions: a PROVISIONED user shows suspend,
//     resetPassword and resetFactors (with no factor) although those calls are refused, and a
//     user blocked from unknown devices shows no unlock. A link is no proof either way.
//   - DELETE sessions with oauthTokens=true also revokes the user's OAuth grants (seed grants);
//     sessions inside apps and Identity Engine's forgetDevices are not modelled.
//   - Group q: case-insensitive name prefix over every group type, at most limit (default
//     300), no Link header. User q leaves out DEPROVISIONED users; search and filter do not.
//     filter accepts only status, lastUpdated, id and profile.login/email/firstName/lastName
//     with eq (lastUpdated also gt/ge/lt/le); anything else is 400 E0000031.
//   - Token endpoint: parameters are read from the query string too (the SDK's private-key mode
//     sends them there); an assertion's exp may be at most 1h (+1 min skew) ahead; a reused jti
//     is refused; unknown or revoked client: 401 invalid_client.
//   - Paging: Link headers are sent as Okta sends them (okta-recorded/user_list.json): one
//     header per link, rel="self" first, then rel="next" while more remain; self repeats the
//     query with limit added. Page sizes (default/max): a user's groups 200/200 whatever
//     limit asks (Okta pages them at 200); users 200/200; apps 20/200 (the 2026 spec gives
//     no default: unverified); app users 50/500; group members 1000/10000; group search
//     10000/10000.
//   - Search strings: a backslash escapes the next character inside a quoted value (\" and
//     \\), so `profile.name eq "Finance\\"` finds the group Finance\. Unverified against
//     Okta beyond \" (documented); the executor escapes both.
//   - GET /api/v1/users/me: an API token answers the seed's api_token_owner (Okta: the admin who
//     made the token); a service app's OAuth token belongs to no user and gets 404 E0000007
//     (unverified; the safe reading). The executor never sends "me": references are an id or
//     a full login, and the user Okta returns must be the one asked for.
//   - Injected 502/503 answers have an HTML body, like a load balancer; 500 is E0000009.
//   - Scope refusal: the status of consent_required (400 here) and whether Okta names every
//     refused scope or only the first in invalid_scope are unverified; the executor reads only
//     the error code.
//   - client_secret_post for an API service integration: refused (invalid_client); Okta's
//     integrations are documented with client_secret_basic.
//   - DPoP: the API (resource server) asks for no nonce here; Okta's docs require one only at
//     the token endpoint. A proof sent by a client that does not require DPoP is ignored and
//     the token is a Bearer token (unverified). The iat window (60 s) is a guess. A bad proof
//     on an API call is 401 with E0000011 and a DPoP WWW-Authenticate header (Okta's body
//     for it is unverified).
//   - 401 E0000015 and 401 insufficient_scope are modelled on demand only; which endpoints
//     Okta answers that way is unverified.
package oktasim
