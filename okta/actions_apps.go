package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// user.apps.update costs
//
//	1                 GET user
//	+ 1 per label     GET /apps?q=label, then an exact label compare (0 for an id)
//	+ 1 per app       GET /apps/{aid}/users/{uid}: assigned or not (no_op)
//	+ 1 per change    POST /apps/{aid}/users or DELETE /apps/{aid}/users/{uid}
//
// An app named by id is not read first: the assignment check answers 404
// both for "not assigned" and for an unknown app, so unassigning an
// unknown app id is reported as no_op, and assigning one fails with Okta's
// E0000007. Unassigning never sends email. Only direct (scope USER)
// assignments can be removed; one that comes through a group is refused
// with code group_assignment.

type oktaApp struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

func (e *Executor) updateApps(ctx context.Context, a *tasks.UpdateApps, res *tasks.Result) error {
	u, err := e.getUser(ctx, a.Base().User)
	if err != nil {
		return err
	}
	res.UserID, res.Login, res.Okta.StatusBefore, res.Okta.StatusAfter = u.ID, u.Profile.Login, u.Status, u.Status
	var firstPermanent error
	for _, ops := range []struct {
		op   string
		refs []string
	}{{"assign", a.Apps.Assign}, {"unassign", a.Apps.Unassign}} {
		for _, ref := range ops.refs {
			id, outcome, err := e.changeApp(ctx, ops.op, ref, u.ID)
			if err != nil {
				if !isPermanent(err) {
					return err
				}
				res.Items = append(res.Items, tasks.ItemResult{Op: ops.op, Ref: ref, ID: id, Outcome: tasks.OutcomeFailed, Error: ErrorInfo(err)})
				if firstPermanent == nil {
					firstPermanent = err
				}
				continue
			}
			res.Items = append(res.Items, tasks.ItemResult{Op: ops.op, Ref: ref, ID: id, Outcome: outcome})
		}
	}
	res.Outcome = itemsOutcome(res.Items)
	if firstPermanent != nil {
		return partial(firstPermanent, res.Items)
	}
	return nil
}

func (e *Executor) changeApp(ctx context.Context, op, ref, uid string) (string, tasks.Outcome, error) {
	aid := ref
	if !isOktaID(ref, "0oa") {
		app, err := e.resolveApp(ctx, ref)
		if err != nil {
			return "", "", err
		}
		aid = app.ID
	}
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.ApplicationUsersAPI.GetApplicationUser(ctx, aid, uid).Execute()
		return r, err
	})
	assigned := err == nil
	if err != nil && (c == nil || c.Status != 404) {
		return aid, "", err
	}
	if (op == "assign") == assigned {
		return aid, tasks.OutcomeNoOp, nil
	}
	if op == "unassign" {
		var au struct {
			Scope string `json:"scope"`
		}
		_ = json.Unmarshal(c.body, &au)
		if au.Scope == "GROUP" {
			return aid, "", &PermanentError{Code: tasks.CodeGroupAssignment, Summary: fmt.Sprintf("app %s is assigned through a group; remove the user from that group instead", aid)}
		}
	}
	_, err = e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		if op == "assign" {
			scope := "USER"
			_, r, err := e.api.ApplicationUsersAPI.AssignUserToApplication(ctx, aid).
				AppUser(oktasdk.AppUserAssignRequest{Id: uid, Scope: &scope}).Execute()
			return r, err
		}
		return e.api.ApplicationUsersAPI.UnassignUserFromApplication(ctx, aid, uid).SendEmail(false).Execute()
	})
	if err != nil {
		return aid, "", err
	}
	return aid, tasks.OutcomeSucceeded, nil
}

// resolveApp finds the one app whose label is exactly ref. 1 call.
func (e *Executor) resolveApp(ctx context.Context, ref string) (*oktaApp, error) {
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		// The SDK's oneOf decoder fails on app types it does not know; the
		// raw body recorded by the transport is read instead.
		_, r, err := e.api.ApplicationAPI.ListApplications(ctx).Q(ref).Limit(200).Execute()
		return r, err
	})
	if err != nil {
		return nil, err
	}
	var apps []oktaApp
	if json.Unmarshal(c.body, &apps) != nil {
		return nil, &TransientError{Err: errors.New("unreadable app list"), Status: c.Status}
	}
	var exact []oktaApp
	var others []string
	for _, a := range apps {
		if a.Label == ref {
			exact = append(exact, a)
		} else {
			others = append(others, fmt.Sprintf("%s %q", a.ID, a.Label))
		}
	}
	switch len(exact) {
	case 1:
		return &exact[0], nil
	case 0:
		msg := fmt.Sprintf("no app is labelled exactly %q", ref)
		if len(others) > 0 {
			msg += "; candidates: " + strings.Join(others, ", ")
		}
		return nil, &PermanentError{Code: tasks.CodeNotFound, Summary: msg}
	default:
		ids := make([]string, len(exact))
		for i, a := range exact {
			ids[i] = a.ID
		}
		return nil, &PermanentError{Code: tasks.CodeAmbiguous, Summary: fmt.Sprintf("%d apps are labelled %q: %s; name the app by id", len(exact), ref, strings.Join(ids, ", "))}
	}
}
