package tasks

import "fmt"

// Code names why an action failed or was rejected: ErrorInfo.Code, the
// "code" of an API problem for a policy refusal, and the metric and audit
// label of an error. Besides the constants below, a code may be what Okta
// itself said, passed on unchanged so that Okta's documentation applies:
// an errorCode of the Management API (E0000038), an OAuth error of the
// token endpoint (invalid_client, invalid_scope), or HTTPStatus(n) when
// Okta's answer carried neither. enqueue/openapi.yaml lists every constant
// with its meaning (a test keeps the two in step).
type Code string

// Rejections: oktaq refused the task before calling Okta.
const (
	// CodeSignature: the task was not signed by a key of the keyring.
	CodeSignature Code = "signature"
	// CodeInvalid: the request is malformed or breaks a rule; Fields names
	// each bad field.
	CodeInvalid Code = "invalid"
	// CodeUnknownConnection: the task names a connection this worker does
	// not have.
	CodeUnknownConnection Code = "unknown_connection"
	// CodeWrongConnection: the task reached the executor of another
	// connection.
	CodeWrongConnection Code = "wrong_connection"
	// CodeScopeNotEnabled: the action needs an Okta scope the connection
	// does not enable; Scope names it.
	CodeScopeNotEnabled Code = "scope_not_enabled"
	// CodeRoleNotAllowed: the requester's role may not trigger the action
	// on the connection.
	CodeRoleNotAllowed Code = "role_not_allowed"
	// CodeProducerRole: the producer may not assert the requester's role
	// (OKTAQ_PRODUCER_ROLES).
	CodeProducerRole Code = "producer_role_not_allowed"
	// CodeProducerConnection: the producer may not name the connection
	// (OKTAQ_PRODUCER_CONNECTIONS).
	CodeProducerConnection Code = "producer_connection_not_allowed"
	// CodeDeadlineExceeded: the action was not done by its deadline (rate
	// limits and retries included) and was given up.
	CodeDeadlineExceeded Code = "deadline_exceeded"
)

// Failures: Okta was called, or the target could not be acted on.
const (
	// CodeInsufficientScope: Okta refused because the access token lacks
	// a scope (not granted to the app in Okta); Scope names it.
	CodeInsufficientScope Code = "insufficient_scope"
	// CodeNotFound: the user, group or app does not exist.
	CodeNotFound Code = "not_found"
	// CodeAmbiguous: several groups or apps carry the given name; name
	// the one meant by id.
	CodeAmbiguous Code = "ambiguous"
	// CodeNotOktaGroup: the group is mastered elsewhere (AD, an app), so
	// its memberships cannot be changed in Okta.
	CodeNotOktaGroup Code = "not_okta_group"
	// CodeGroupAssignment: the app is assigned through a group; remove the
	// user from that group instead.
	CodeGroupAssignment Code = "group_assignment"
	// CodeUnconfirmed: a call was sent, its answer was lost, and the
	// user's state cannot show whether Okta applied it; it is not repeated
	// (it would send a second email). Check the user.
	CodeUnconfirmed Code = "unconfirmed"
	// CodeResponseLost: Okta applied the call but its answer, with the
	// link or password it carried, was lost; ask for a new one.
	CodeResponseLost Code = "response_lost"
	// CodeSeal: the secret Okta returned could not be sealed for the
	// requester, so it is not kept.
	CodeSeal Code = "seal"
	// CodeClient: the Okta client could not build the request.
	CodeClient Code = "client"
	// CodeUnauthorized: Okta refused the credentials (wrong, revoked or
	// expired) even after a fresh token.
	CodeUnauthorized Code = "unauthorized"
	// CodeRateLimited: Okta's rate limit was still exhausted when the
	// attempts ended.
	CodeRateLimited Code = "rate_limited"
	// CodeFederatedUser: the user signs in through an identity provider
	// (credentials.provider FEDERATION or SOCIAL); resetting or expiring
	// the password in Okta would turn them into an Okta-password user and
	// bypass that provider, so oktaq refuses. Change it at the provider.
	CodeFederatedUser Code = "federated_user"
	// CodeDirectoryPassword: the user's password lives in Active
	// Directory or LDAP (credentials.provider ACTIVE_DIRECTORY or LDAP);
	// reset or expire it in the directory.
	CodeDirectoryPassword Code = "directory_password"
	// CodeAdminRoleMissing: Okta refused with E0000006 although the token
	// has the scope: the app's admin role is missing or its resource set
	// does not cover this user or group.
	CodeAdminRoleMissing Code = "okta_admin_role_missing"
	// CodeUserMismatch: Okta answered the user reference with another
	// user than the one named (a short name, "me"); nothing was done.
	CodeUserMismatch Code = "user_mismatch"
	// CodeTransient: a temporary failure (5xx, timeout, lost connection,
	// or an error of no other class) outlasted the attempts.
	CodeTransient Code = "transient"
	// CodeScopeNotGranted: the action needs a scope the connection enables
	// but Okta does not grant to the app; Scope names it.
	CodeScopeNotGranted Code = "scope_not_granted"
	// CodeConnectionDown: the connection cannot get a token (the token
	// endpoint refused the credentials or failed); the task waits for the
	// connection without spending attempts, and ends with this code only
	// when its deadline passes first.
	CodeConnectionDown Code = "connection_down"
	// CodeProbePending: another worker is asking Okta for a token right
	// now; the task waits for that answer (seen only while it waits).
	CodeProbePending Code = "probe_pending"
)

// Details: named notes on an outcome (Result.Detail, ItemResult.Detail).
const (
	// CodeAlreadyDone: no_op, the end state already held; the reason says
	// what Okta showed.
	CodeAlreadyDone Code = "already_done"
	// CodeReactivated: activate on a PROVISIONED user was sent as
	// reactivate, which restarts the activation (a new email or link).
	CodeReactivated Code = "reactivated"
	// CodeSessionsLeft: Okta sessions were cleared; sessions inside web
	// and native apps are not, and Identity Engine also forgets the
	// user's devices.
	CodeSessionsLeft Code = "sessions_left_in_apps"
	// CodeAppGroupSameName: the user is in a directory (APP_GROUP) group
	// of the same name, whose membership oktaq cannot change; the access
	// it gives stays. Remove the user in the directory.
	CodeAppGroupSameName Code = "app_group_same_name"
)

// HTTPStatus is the code of an Okta answer with this HTTP status and no
// error code of its own: http_404.
func HTTPStatus(status int) Code { return Code(fmt.Sprintf("http_%d", status)) }
