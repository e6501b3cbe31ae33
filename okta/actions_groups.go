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

// user.groups.update costs
//
//	1                      GET user (resolve, status_before)
//	+ 1 per group          GET group by id, or one search by exact name
//	+ 1 (+1 per 200 more)  GET the user's groups: decides no_op per group
//	+ 1 per change         PUT or DELETE membership
//
// A group named by its name is found with search=profile.name eq "X" (an
// exact, if case-insensitive, match; q= is a prefix match that also returns
// APP_GROUPs) and then compared to profile.name exactly, keeping only
// OKTA_GROUPs: Okta refuses membership changes to app and built-in groups.
// Each group is reported on its own; a group that fails does not stop the
// others, so a retry finds the done ones as no-ops and does only the rest.
// A rate limit or transient error stops the update at once.

type oktaGroup struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

const (
	groupOkta = "OKTA_GROUP"
	groupApp  = "APP_GROUP"
)

// isOktaID reports whether ref looks like an Okta object id with prefix
// (00g groups, 0oa apps, 00u users): 20 characters, letters and digits.
func isOktaID(ref, prefix string) bool {
	if len(ref) != 20 || !strings.HasPrefix(ref, prefix) {
		return false
	}
	for _, r := range ref {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (e *Executor) updateGroups(ctx context.Context, a *tasks.UpdateGroups, res *tasks.Result) error {
	u, err := e.getUser(ctx, a.Base().User)
	if err != nil {
		return err
	}
	res.UserID, res.Login, res.Okta.StatusBefore, res.Okta.StatusAfter = u.ID, u.Profile.Login, u.Status, u.Status
	// Items keep the order of the request: adds, then removes.
	type change struct {
		item *tasks.ItemResult
		g    *oktaGroup
		// same are directory groups with the same name, which the action
		// cannot change.
		same []oktaGroup
	}
	var changes []change
	var firstPermanent error
	fail := func(it *tasks.ItemResult, err error) {
		it.Outcome, it.Error = tasks.OutcomeFailed, ErrorInfo(err)
		if firstPermanent == nil {
			firstPermanent = err
		}
	}
	for _, ref := range a.Groups.Add {
		res.Items = append(res.Items, tasks.ItemResult{Op: "add", Ref: ref})
	}
	for _, ref := range a.Groups.Remove {
		res.Items = append(res.Items, tasks.ItemResult{Op: "remove", Ref: ref})
	}
	for i := range res.Items {
		it := &res.Items[i]
		g, same, err := e.resolveGroup(ctx, it.Ref)
		if err != nil {
			if !isPermanent(err) {
				return err
			}
			fail(it, err)
			continue
		}
		it.ID = g.ID
		changes = append(changes, change{it, g, same})
	}
	if len(changes) > 0 {
		member, err := e.userGroups(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if ch.item.Op == "remove" {
				reportSameName(ch.item, ch.same, member)
			}
			if (ch.item.Op == "add") == member[ch.g.ID] {
				ch.item.Outcome = tasks.OutcomeNoOp
				if ch.item.Detail == nil {
					ch.item.Detail = &tasks.Detail{Code: tasks.CodeAlreadyDone, Reason: map[bool]string{
						true: "the user is already a member", false: "the user is not a member"}[ch.item.Op == "add"]}
				}
				continue
			}
			gid, op := ch.g.ID, ch.item.Op
			_, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
				if op == "add" {
					return e.api.GroupAPI.AssignUserToGroup(ctx, gid, u.ID).Execute()
				}
				return e.api.GroupAPI.UnassignUserFromGroup(ctx, gid, u.ID).Execute()
			})
			if err != nil {
				if !isPermanent(err) {
					return err
				}
				fail(ch.item, err)
				continue
			}
			ch.item.Outcome = tasks.OutcomeSucceeded
			member[gid] = op == "add"
		}
	}
	res.Outcome = itemsOutcome(res.Items)
	for _, it := range res.Items {
		if it.Detail != nil && it.Detail.Code == tasks.CodeAppGroupSameName {
			res.Detail = &tasks.Detail{Code: tasks.CodeAppGroupSameName,
				Reason: "the user keeps a directory group of the same name (see items): its access stays until the user is removed in the directory"}
			break
		}
	}
	return partialOutcome(res, firstPermanent)
}

// reportSameName notes on a removal the same-name directory groups the
// user stays in: "remove from Finance" cannot touch the AD group
// "Finance", and the access it gives stays.
func reportSameName(it *tasks.ItemResult, same []oktaGroup, member map[string]bool) {
	var names []string
	for _, g := range same {
		if member[g.ID] {
			it.Unchanged = append(it.Unchanged, tasks.GroupRef{ID: g.ID, Name: g.Profile.Name, Type: g.Type})
			names = append(names, fmt.Sprintf("%s %q", g.ID, g.Profile.Name))
		}
	}
	if len(names) > 0 {
		it.Detail = &tasks.Detail{Code: tasks.CodeAppGroupSameName, Reason: fmt.Sprintf(
			"the user stays in the directory group %s (APP_GROUP), which oktaq cannot change: remove them in the directory (e.g. Active Directory)",
			strings.Join(names, ", "))}
	}
}

// resolveGroup finds one OKTA_GROUP by id or exact name, and by name also
// the APP_GROUPs of the same name (case-insensitive, as Okta's eq): 1 call
// (+1 per 200 more groups of that name).
func (e *Executor) resolveGroup(ctx context.Context, ref string) (*oktaGroup, []oktaGroup, error) {
	if isOktaID(ref, "00g") {
		c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
			_, r, err := e.api.GroupAPI.GetGroup(ctx, ref).Execute()
			return r, err
		})
		if err != nil {
			return nil, nil, err
		}
		var g oktaGroup
		if json.Unmarshal(c.body, &g) != nil || g.ID == "" {
			return nil, nil, &TransientError{Err: errors.New("unreadable group"), Status: c.Status}
		}
		if g.Type != groupOkta {
			return nil, nil, &PermanentError{Code: tasks.CodeNotOktaGroup, Summary: fmt.Sprintf("group %s (%q) is a %s; only OKTA_GROUP memberships can be changed", g.ID, g.Profile.Name, g.Type)}
		}
		return &g, nil, nil
	}
	search := fmt.Sprintf(`profile.name eq "%s"`, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(ref))
	found, err := listAll[oktaGroup](ctx, e, "group list", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		req := e.api.GroupAPI.ListGroups(ctx).Search(search).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	})
	if err != nil {
		return nil, nil, err
	}
	var exact, same []oktaGroup
	var others []string
	for _, g := range found {
		switch {
		case g.Profile.Name == ref && g.Type == groupOkta:
			exact = append(exact, g)
		case strings.EqualFold(g.Profile.Name, ref) && g.Type == groupApp:
			same = append(same, g)
			others = append(others, fmt.Sprintf("%s %q (%s)", g.ID, g.Profile.Name, g.Type))
		default:
			others = append(others, fmt.Sprintf("%s %q (%s)", g.ID, g.Profile.Name, g.Type))
		}
	}
	switch len(exact) {
	case 1:
		return &exact[0], same, nil
	case 0:
		if len(same) > 0 {
			return nil, nil, &PermanentError{Code: tasks.CodeNotOktaGroup, Summary: fmt.Sprintf(
				"%q is only a directory group (%s); its membership is managed in the directory, not in Okta", ref, strings.Join(others, ", "))}
		}
		msg := fmt.Sprintf("no OKTA_GROUP is named exactly %q", ref)
		if len(others) > 0 {
			msg += "; candidates: " + candidates(others)
		}
		return nil, nil, &PermanentError{Code: tasks.CodeNotFound, Summary: msg}
	default:
		ids := make([]string, len(exact))
		for i, g := range exact {
			ids[i] = g.ID
		}
		return nil, nil, &PermanentError{Code: tasks.CodeAmbiguous, Summary: fmt.Sprintf("%d OKTA_GROUPs are named %q: %s; name the group by id", len(exact), ref, strings.Join(ids, ", "))}
	}
}

// userGroups returns the ids of the user's groups, every page of them.
func (e *Executor) userGroups(ctx context.Context, uid string) (map[string]bool, error) {
	out := map[string]bool{}
	err := e.eachPage(ctx, "user's groups", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		req := e.api.UserAPI.ListUserGroups(ctx, uid).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	}, func(body []byte) error {
		var gs []oktaGroup
		if err := json.Unmarshal(body, &gs); err != nil {
			return err
		}
		for _, g := range gs {
			out[g.ID] = true
		}
		return nil
	})
	return out, err
}

func isPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// itemsOutcome: succeeded if anything changed, no_op if nothing needed to.
func itemsOutcome(items []tasks.ItemResult) tasks.Outcome {
	out := tasks.OutcomeNoOp
	for _, it := range items {
		switch it.Outcome {
		case tasks.OutcomeSucceeded:
			return tasks.OutcomeSucceeded
		case tasks.OutcomeFailed:
			out = tasks.OutcomeFailed
		}
	}
	return out
}

// partialOutcome ends an update whose items failed for good (first is
// the first failure, nil when none did): when every item failed it is the
// action's error; when some were done (or already held) the action is not
// an error but ends partial, with each item's outcome and the first
// failure in res.Error, so that the done items are reported as done.
func partialOutcome(res *tasks.Result, first error) error {
	if first == nil {
		return nil
	}
	err := partial(first, res.Items)
	for _, it := range res.Items {
		if it.Outcome != tasks.OutcomeFailed {
			res.Outcome, res.Error = tasks.OutcomePartial, ErrorInfo(err)
			return nil
		}
	}
	return err
}

// partial is the error of an update where some items failed for good.
func partial(first error, items []tasks.ItemResult) error {
	var p *PermanentError
	errors.As(first, &p)
	failed, done := 0, 0
	for _, it := range items {
		if it.Outcome == tasks.OutcomeFailed {
			failed++
		} else {
			done++
		}
	}
	if done == 0 && failed == 1 {
		return p
	}
	return &PermanentError{Code: p.Code, Scope: p.Scope, Status: p.Status, RequestID: p.RequestID,
		Summary: fmt.Sprintf("%d of %d items failed (see items); first: %s", failed, failed+done, p.Summary)}
}
