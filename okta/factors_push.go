package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"
)

// A verified caller: before a reset, the worker asks the target user to
// confirm on their phone with an Okta Verify push, through Okta's factor
// verify API (UserFactorAPI.VerifyFactor, then
// GetFactorTransactionStatus on the transaction until the user answers).
// Each call is one request through the executor's transport, so the rate
// limiter and the error classes apply as to any other. Sending a push is
// not idempotent: a lost answer is retried, and the user may then see a
// second push (the first one's answer is never read).

// Push factor results (Okta's factorResult).
const (
	PushWaiting  = "WAITING"
	PushSuccess  = "SUCCESS"
	PushRejected = "REJECTED"
	PushTimeout  = "TIMEOUT"
)

// PushTransaction is one Okta Verify push: the user, factor and
// transaction ids, and its last known result.
type PushTransaction struct {
	UserID, FactorID, ID string
	Result               string
}

// NoPushFactorError: the user has no active Okta Verify push factor.
type NoPushFactorError struct{ UserID, Login string }

func (e *NoPushFactorError) Error() string {
	return fmt.Sprintf("user %s (%s) has no active Okta Verify push factor to confirm the caller with", e.UserID, e.Login)
}

// SendPush finds the user's active push factor and sends a push. 3 calls:
// GET user, GET factors, POST verify. A user without one is a
// *NoPushFactorError.
func (e *Executor) SendPush(ctx context.Context, userRef string) (PushTransaction, error) {
	ctx = withRecorder(ctx, &recorder{})
	u, err := e.getUser(ctx, userRef)
	if err != nil {
		return PushTransaction{}, err
	}
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserFactorAPI.ListFactors(ctx, u.ID).Execute()
		return r, err
	})
	if err != nil {
		return PushTransaction{}, err
	}
	var factors []struct {
		ID, FactorType, Provider, Status string
	}
	if json.Unmarshal(c.body, &factors) != nil {
		return PushTransaction{}, &TransientError{Err: errors.New("okta answered the user's factors with an unreadable body"), Status: c.Status}
	}
	fid := ""
	for _, f := range factors {
		if f.FactorType == "push" && f.Provider == "OKTA" && f.Status == "ACTIVE" {
			fid = f.ID
			break
		}
	}
	if fid == "" {
		return PushTransaction{}, &NoPushFactorError{UserID: u.ID, Login: u.Profile.Login}
	}
	c, err = e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserFactorAPI.VerifyFactor(ctx, u.ID, fid).Execute()
		return r, err
	})
	if err != nil {
		return PushTransaction{}, err
	}
	tx, err := readPush(c.body)
	if err != nil {
		return PushTransaction{}, &TransientError{Err: err, Status: c.Status}
	}
	tx.UserID, tx.FactorID = u.ID, fid
	if tx.ID == "" && tx.Result == PushWaiting {
		return PushTransaction{}, &TransientError{Err: errors.New("okta answered the push without a poll link"), Status: c.Status}
	}
	return tx, nil
}

// PushStatus polls a push transaction. 1 call.
func (e *Executor) PushStatus(ctx context.Context, tx PushTransaction) (PushTransaction, error) {
	ctx = withRecorder(ctx, &recorder{})
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserFactorAPI.GetFactorTransactionStatus(ctx, tx.UserID, tx.FactorID, tx.ID).Execute()
		return r, err
	})
	if err != nil {
		return tx, err
	}
	got, err := readPush(c.body)
	if err != nil {
		return tx, &TransientError{Err: err, Status: c.Status}
	}
	tx.Result = got.Result
	return tx, nil
}

// readPush reads factorResult and the transaction id from the poll link
// (.../transactions/{id}).
func readPush(body []byte) (PushTransaction, error) {
	var b struct {
		FactorResult string `json:"factorResult"`
		Links        struct {
			Poll struct {
				Href string `json:"href"`
			} `json:"poll"`
		} `json:"_links"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.FactorResult == "" {
		return PushTransaction{}, errors.New("okta answered the push with an unreadable body")
	}
	tx := PushTransaction{Result: b.FactorResult}
	if i := strings.LastIndex(b.Links.Poll.Href, "/transactions/"); i >= 0 {
		tx.ID = b.Links.Poll.Href[i+len("/transactions/"):]
	}
	return tx, nil
}
