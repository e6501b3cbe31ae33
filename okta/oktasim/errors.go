package oktasim

import (
	"fmt"
	"net/http"
)

// apiError is Okta's Management API error body.
type apiError struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

// response is what a handler returns; serve writes it (or drops it, for fault injection).
type response struct {
	status int
	body   any // nil: no body
	header http.Header
	raw    []byte // non-JSON body (HTML 502s)
}

func oktaErr(status int, code, summary string, causes ...string) response {
	e := apiError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code,
		ErrorID: "oae" + randomString(22), ErrorCauses: []errorCause{}}
	for _, c := range causes {
		e.ErrorCauses = append(e.ErrorCauses, errorCause{ErrorSummary: c})
	}
	return response{status: status, body: e}
}

func notFound(id, kind string) response {
	return oktaErr(http.StatusNotFound, "E0000007", fmt.Sprintf("Not found: Resource not found: %s (%s)", id, kind))
}

func validationFailed(what, cause string) response {
	return oktaErr(http.StatusBadRequest, "E0000001", "Api validation failed: "+what, cause)
}

func notAllowedInStatus() response {
	return oktaErr(http.StatusForbidden, "E0000038", "This operation is not allowed in the user's current status.")
}

func noPermission() response {
	return oktaErr(http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
}

func stillTransitioning() response {
	return oktaErr(http.StatusConflict, "E0000112",
		// Okta's error catalogue, word for word.
		"Cannot update this user because they are still being activated. Please try again in a few minutes.")
}

func missingParam(name string) response {
	return oktaErr(http.StatusBadRequest, "E0000028", "The request is missing a required parameter.",
		"Missing required parameter: "+name)
}

func invalidSearch(cause string) response {
	return oktaErr(http.StatusBadRequest, "E0000031", "Invalid search criteria.", cause)
}

func rateLimited() response {
	return oktaErr(http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
}

func ok(body any) response { return response{status: http.StatusOK, body: body} }

func noContent() response { return response{status: http.StatusNoContent} }

// empty is Okta's `{}` lifecycle answer.
var empty = struct{}{}
