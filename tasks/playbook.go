package tasks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// A playbook is an ordered list of ordinary actions run for one user as
// one tracked unit (DESIGN.md, Contract wave 2): offboard and contain are
// built in, operators add their own in OKTAQ_PLAYBOOKS_FILE. Each step is
// enqueued as a signed action of its own when the one before it ended, so
// it is authorized, rate limited and recorded like any other.

// Every, as the only entry of groups.remove or apps.unassign, stands for
// every Okta group (every app) the user has, resolved when the step runs:
// OKTA_GROUPs only (Everyone and directory APP_GROUPs are skipped with the
// reason), direct app assignments only (those through a group go with the
// group).
const Every = "*"

// OnFailure says what a run does after a step failed: stop (the default
// for operators' playbooks) or continue with the next step.
type OnFailure string

// What a run does after a failed step.
const (
	OnFailureStop     OnFailure = "stop"
	OnFailureContinue OnFailure = "continue"
)

// Playbook is a named, ordered list of steps.
type Playbook struct {
	Name        string         `json:"name" yaml:"name"`
	Description string         `json:"description,omitempty" yaml:"description,omitempty"`
	Steps       []PlaybookStep `json:"steps" yaml:"steps"`
}

// PlaybookStep is one action of a playbook with its options. Groups and
// Apps take names, ids or Every.
type PlaybookStep struct {
	Action    Action         `json:"action" yaml:"action"`
	Options   map[string]any `json:"options,omitempty" yaml:"options,omitempty"`
	Groups    *GroupChanges  `json:"groups,omitempty" yaml:"groups,omitempty"`
	Apps      *AppChanges    `json:"apps,omitempty" yaml:"apps,omitempty"`
	OnFailure OnFailure      `json:"on_failure,omitempty" yaml:"on_failure,omitempty"`
}

// Continues reports whether a failure of this step lets the run go on.
func (s PlaybookStep) Continues() bool { return s.OnFailure == OnFailureContinue }

// EveryGroup reports whether the step removes the user from every group.
func (s PlaybookStep) EveryGroup() bool {
	return s.Groups != nil && slices.Equal(s.Groups.Remove, []string{Every})
}

// EveryApp reports whether the step unassigns every app of the user.
func (s PlaybookStep) EveryApp() bool {
	return s.Apps != nil && slices.Equal(s.Apps.Unassign, []string{Every})
}

// Args builds the step's action for request r (user, requester, ticket,
// producer), decoded as strictly as a task payload. Every must have been
// resolved first (WithTargets).
func (s PlaybookStep) Args(r Request) (Args, error) {
	if r.Version == 0 {
		r.Version = PayloadVersion
	}
	fields := map[string]any{}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if s.Options != nil {
		fields["options"] = s.Options
	}
	if s.Groups != nil {
		fields["groups"] = s.Groups
	}
	if s.Apps != nil {
		fields["apps"] = s.Apps
	}
	payload, err := json.Marshal(fields)
	if err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "options", Reason: "cannot be encoded as JSON"}}}
	}
	return Decode(s.Action, payload)
}

// WithTargets returns the step with its Every resolved to ids.
func (s PlaybookStep) WithTargets(ids []string) PlaybookStep {
	switch {
	case s.EveryGroup():
		g := *s.Groups
		g.Remove = ids
		s.Groups = &g
	case s.EveryApp():
		a := *s.Apps
		a.Unassign = ids
		s.Apps = &a
	}
	return s
}

var playbookNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// MaxPlaybookSteps bounds a playbook.
const MaxPlaybookSteps = 20

// Validate checks a playbook as a producer's request would be checked:
// every step decodes strictly and validates; errors name the step and
// field ("steps[2].options.oauth_tokens").
func (p *Playbook) Validate() error {
	v := &validator{}
	if !playbookNameRe.MatchString(p.Name) {
		v.add("name", "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit")
	}
	switch n := len(p.Steps); {
	case n == 0:
		v.add("steps", "is empty")
	case n > MaxPlaybookSteps:
		v.add("steps", "has %d steps; at most %d", n, MaxPlaybookSteps)
	}
	probe := Request{Version: PayloadVersion, User: "validation@example.com",
		Requester: Requester{ID: "validation", Role: "validation"}, RequestedAt: time.Unix(1, 0).UTC()}
	for i, s := range p.Steps {
		at := fmt.Sprintf("steps[%d]", i)
		switch s.OnFailure {
		case "", OnFailureStop, OnFailureContinue:
		default:
			v.add(at+".on_failure", "must be stop or continue, not %q", s.OnFailure)
		}
		if !s.Action.Known() {
			v.add(at+".action", "unknown action %q; known: %s", s.Action, joinActions())
			continue
		}
		if s.Groups != nil && (slices.Contains(s.Groups.Add, Every) || slices.Contains(s.Groups.Remove, Every) && !s.EveryGroup()) {
			v.add(at+".groups", "%q (every group) may only be the one entry of remove", Every)
			continue
		}
		if s.Apps != nil && (slices.Contains(s.Apps.Assign, Every) || slices.Contains(s.Apps.Unassign, Every) && !s.EveryApp()) {
			v.add(at+".apps", "%q (every app) may only be the one entry of unassign", Every)
			continue
		}
		args, err := s.WithTargets([]string{"placeholder"}).Args(probe)
		if err == nil {
			if args.ReturnsSecret() {
				v.add(at+".options", "%s with these options returns a secret, which a playbook cannot deliver; keep the email", s.Action)
				continue
			}
			err = Validate(args, time.Unix(1, 0))
		}
		if ve, ok := err.(*ValidationError); ok {
			for _, f := range ve.Fields {
				v.add(at+"."+orPayload(f.Field), "%s", f.Reason)
			}
		} else if err != nil {
			v.add(at, "%s", err.Error())
		}
	}
	if len(v.errs) > 0 {
		return &ValidationError{Fields: v.errs}
	}
	return nil
}

// Built-in playbook names.
const (
	PlaybookOffboard = "offboard"
	PlaybookContain  = "contain"
)

// BuiltinPlaybooks are offboard and contain. Their steps continue after a
// failure: a help desk locking someone out wants every step tried. The
// first two steps (suspend, clear sessions) are critical actions, so they
// run on the critical queue and at critical priority in the limiter even
// behind bulk work.
func BuiltinPlaybooks() map[string]*Playbook {
	suspend := PlaybookStep{Action: ActionSuspend, OnFailure: OnFailureContinue}
	clear := PlaybookStep{Action: ActionClearSessions, Options: map[string]any{"oauth_tokens": true}, OnFailure: OnFailureContinue}
	return map[string]*Playbook{
		PlaybookContain: {Name: PlaybookContain,
			Description: "Suspend the user and clear their sessions and OAuth tokens.",
			Steps:       []PlaybookStep{suspend, clear}},
		PlaybookOffboard: {Name: PlaybookOffboard,
			Description: "Suspend, clear sessions and OAuth tokens, reset MFA, remove from every Okta group, unassign every app.",
			Steps: []PlaybookStep{suspend, clear,
				{Action: ActionResetMFA, OnFailure: OnFailureContinue},
				{Action: ActionUpdateGroups, Groups: &GroupChanges{Remove: []string{Every}}, OnFailure: OnFailureContinue},
				{Action: ActionUpdateApps, Apps: &AppChanges{Unassign: []string{Every}}, OnFailure: OnFailureContinue}}},
	}
}
