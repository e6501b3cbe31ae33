package okta

import (
	"context"
	"fmt"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// What a playbook run reads besides its steps: the snapshot taken before
// the first step (for undo), and the groups or apps "every group" and
// "every app" stand for, read when the step runs.
//
// Costs: snapshot = 1 GET user + 1 GET users/{id}/groups (+1 per 200 more)
// + 1 GET apps?filter=user.id (+1 per 200 more); resolving Every = the
// same list read once more, when the step is due (earlier steps may have
// changed it).

const groupBuiltIn = "BUILT_IN"

type userApp struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Embedded struct {
		User struct {
			Scope string `json:"scope"`
		} `json:"user"`
	} `json:"_embedded"`
}

// Snapshot reads the user's status, groups and apps before a run changes
// anything.
func (e *Executor) Snapshot(ctx context.Context, user string) (*tasks.Snapshot, error) {
	ctx = withRecorder(ctx, &recorder{})
	u, err := e.getUser(ctx, user)
	if err != nil {
		return nil, err
	}
	s := &tasks.Snapshot{UserID: u.ID, Login: u.Profile.Login, Status: u.Status, TakenAt: e.clock(),
		Groups: []tasks.GroupRef{}, Apps: []tasks.AppRef{}}
	if u.TransitioningToStatus != "" {
		s.Status = u.TransitioningToStatus
	}
	gs, err := e.listUserGroups(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		s.Groups = append(s.Groups, tasks.GroupRef{ID: g.ID, Name: g.Profile.Name, Type: g.Type})
	}
	apps, err := e.listUserApps(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		if a.Embedded.User.Scope == "GROUP" {
			s.AppsThroughGroups = append(s.AppsThroughGroups, tasks.AppRef{ID: a.ID, Label: a.Label})
			continue
		}
		s.Apps = append(s.Apps, tasks.AppRef{ID: a.ID, Label: a.Label})
	}
	return s, nil
}

// ResolveTargets reads what Every stands for in step, for user id uid:
// the ids to change, and what is left out with why. A step without Every
// has no targets to resolve (nil, nil, nil) and makes no call.
func (e *Executor) ResolveTargets(ctx context.Context, step tasks.PlaybookStep, uid string) ([]string, []tasks.SkipReason, error) {
	ctx = withRecorder(ctx, &recorder{})
	var ids []string
	var skipped []tasks.SkipReason
	switch {
	case step.EveryGroup():
		gs, err := e.listUserGroups(ctx, uid)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gs {
			switch g.Type {
			case groupOkta:
				ids = append(ids, g.ID)
			case groupBuiltIn:
				skipped = append(skipped, tasks.SkipReason{ID: g.ID, Name: g.Profile.Name,
					Reason: "built-in group (Everyone): every user is a member; Okta manages it"})
			default:
				skipped = append(skipped, tasks.SkipReason{ID: g.ID, Name: g.Profile.Name,
					Reason: fmt.Sprintf("%s: its membership is managed in its directory or app, not in Okta; remove the user there", g.Type)})
			}
		}
	case step.EveryApp():
		apps, err := e.listUserApps(ctx, uid)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range apps {
			if a.Embedded.User.Scope == "GROUP" {
				skipped = append(skipped, tasks.SkipReason{ID: a.ID, Name: a.Label,
					Reason: "assigned through a group: it goes with the group membership"})
				continue
			}
			ids = append(ids, a.ID)
		}
	}
	return ids, skipped, nil
}

// listUserGroups reads every group of the user, with type and name.
func (e *Executor) listUserGroups(ctx context.Context, uid string) ([]oktaGroup, error) {
	return listAll[oktaGroup](ctx, e, "user's groups", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		req := e.api.UserAPI.ListUserGroups(ctx, uid).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	})
}

// listUserApps reads every app assigned to the user, with the assignment
// embedded (its scope: USER or GROUP). The SDK's oneOf decoder fails on
// app types it does not know; the raw body is read instead.
func (e *Executor) listUserApps(ctx context.Context, uid string) ([]userApp, error) {
	return listAll[userApp](ctx, e, "user's apps", func(ctx context.Context, after string) (*oktasdk.APIResponse, error) {
		req := e.api.ApplicationAPI.ListApplications(ctx).Filter(fmt.Sprintf(`user.id eq "%s"`, uid)).
			Expand("user/" + uid).Limit(200)
		if after != "" {
			req = req.After(after)
		}
		_, r, err := req.Execute()
		return r, err
	})
}
