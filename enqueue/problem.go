package enqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/oktaq/oktaq/tasks"
)

// Problem is an RFC 9457 problem detail, the body of every error answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is a stable machine-readable reason: invalid_request,
	// scope_not_enabled, role_not_allowed, producer_role_not_allowed,
	// producer_connection_not_allowed, key_conflict, not_found,
	// method_not_allowed,
	// unauthorized, unsupported_media_type, too_large, unavailable,
	// rate_limited, okta_refused, not_implemented (user view).
	Code string `json:"code,omitempty"`
	// Scope is the Okta scope that is not enabled (scope_not_enabled).
	Scope string `json:"scope,omitempty"`
	// Role is the requester role that is not allowed (role_not_allowed,
	// producer_role_not_allowed).
	Role string `json:"role,omitempty"`
	// Producer is the caller, when it may not assert the role or name the
	// connection (producer_role_not_allowed,
	// producer_connection_not_allowed).
	Producer string `json:"producer,omitempty"`
	// Connection is the connection the producer may not name.
	Connection string `json:"connection,omitempty"`
	// Errors lists each bad field of a 400.
	Errors []tasks.FieldError `json:"errors,omitempty"`
}

const problemBase = "urn:oktaq:problem:"

func newProblem(status int, code, detail string) *Problem {
	return &Problem{Type: problemBase + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// problemFor maps an error of the Client onto its HTTP answer.
func problemFor(err error) *Problem {
	var ve *tasks.ValidationError
	var na *tasks.NotAllowedError
	var pn *tasks.ProducerNotAllowedError
	switch {
	case errors.As(err, &pn):
		p := newProblem(http.StatusForbidden, string(pn.Code()), pn.Error())
		p.Producer, p.Role, p.Connection = pn.Producer, pn.Role, pn.Connection
		return p
	case errors.As(err, &ve):
		p := newProblem(http.StatusBadRequest, "invalid_request", "the request has invalid fields; see errors")
		p.Errors = ve.Fields
		return p
	case errors.As(err, &na):
		p := newProblem(http.StatusForbidden, string(na.Code()), na.Error())
		p.Scope, p.Role = na.Scope, na.Role
		return p
	case errors.Is(err, ErrKeyConflict):
		return newProblem(http.StatusConflict, "key_conflict", err.Error())
	case errors.Is(err, ErrNotFound):
		return newProblem(http.StatusNotFound, "not_found", "no such action")
	case errors.Is(err, ErrUnavailable):
		return newProblem(http.StatusServiceUnavailable, "unavailable", "the task store cannot be reached; nothing was enqueued; retry later")
	default:
		return newProblem(http.StatusInternalServerError, "internal", "internal error")
	}
}

// retryAfterSeconds is what a 503 asks the caller to wait.
const retryAfterSeconds = 2

func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="oktaq"`)
	}
	writeJSONType(w, "application/problem+json", p.Status, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, "application/json", status, v)
}

// answerBufs are the buffers answers are encoded in: json.Marshal's own
// copy and the appended newline cost two allocations an answer.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func writeJSONType(w http.ResponseWriter, contentType string, status int, v any) {
	buf := answerBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 { // a large batch answer's buffer is not kept
			answerBufs.Put(buf)
		}
	}()
	// Encode writes what json.Marshal returns, and a newline.
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
