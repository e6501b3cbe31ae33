package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// user.apps.update costs
//
//	1                 GET user
//	+ 1 per label     GET /apps?q=label (+1 per 200 more), then an exact label compare (0 for an id)
//	+ 1 per app       GET /apps/{aid}/users/{uid}: assigned or not (no_op)
//	+ 1 per change    POST /apps/{aid}/users or DELETE /apps/{aid}/users/{uid}
//
// An app named by id is not read first: the assignment check answers 404
// both for "not assigned" and for an unknown app, so an unassign that finds
// no assignment reads the app (+1 call) and reports an unknown app as
// not_found, never as no_op; assigning one fails with Okta's E0000007. Unassigning never sends email. Only direct (scope USER)
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
			it := tasks.ItemResult{Op: ops.op, Ref: ref, ID: id, Outcome: outcome}
			if outcome == tasks.OutcomeNoOp {
				it.Detail = &tasks.Detail{Code: tasks.CodeAlreadyDone, Reason: map[bool]string{
					true: "the app is already assigned to the user", false: "the app is not assigned to the user"}[ops.op == "assign"]}
			}
			res.Items = append(res.Items, it)
		}
	}
	res.Outcome = itemsOutcome(res.Items)
	return partialOutcome(res, firstPermanent)
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
	if op == "unassign" && !assigned && aid == ref {
		if err := e.appExists(ctx, aid); err != nil {
			return aid, "", err
		}
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

// appExists reads an app named by id: the assignment check's 404 does not
// tell an unknown app from a missing assignment. 1 call.
func (e *Executor) appExists(ctx context.Context, aid string) error {
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		// The SDK may fail to decode the app's type; the status decides.
		_, r, err := e.api.ApplicationAPI.GetApplication(ctx, aid).Execute()
		return r, err
	})
	if err != nil && c != nil && c.Status == 404 {
		return &PermanentError{Code: tasks.CodeNotFound, Status: c.Status, RequestID: c.RequestID,
			Summary: fmt.Sprintf("no app has id %s", aid)}
	}
	return err
}

// resolveApp finds the one app whose label is exactly ref: 1 call (+1 per
// 200 more apps whose name or label starts with it).
func (e *Executor) resolveApp(ctx context.Context, ref string) (*oktaApp, error) {
	// The SDK's oneOf decoder fails on app types it does not know; the
	// raw body recorded by the transport is read instead. q= is a prefix
	// match: the exact label may be on any page.
	apps, err := listAll[oktaApp](ctx, e, "app list", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		req := e.api.ApplicationAPI.ListApplications(ctx).Q(ref).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	})
	if err != nil {
		return nil, err
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
			msg += "; candidates: " + candidates(others)
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
