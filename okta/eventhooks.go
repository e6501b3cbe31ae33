package okta

import (
	"context"
	"errors"
	"fmt"
	"slices"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// ScopeEventHooks is the scope the event hook API needs. It is never
// needed to perform an action: without it confirmation by Okta's events
// is simply off.
const ScopeEventHooks = "okta.eventHooks.manage"

// eventTypes are the System Log event types each action makes Okta
// publish through event hooks (okta-api-notes.md section 7). An action
// absent here has no hook-eligible event: expire_password's
// user.account.expire_password is only in the System Log.
var eventTypes = map[tasks.Action][]string{
	tasks.ActionActivate:      {"user.lifecycle.activate"},
	tasks.ActionReactivate:    {"user.lifecycle.reactivate"},
	tasks.ActionDeactivate:    {"user.lifecycle.deactivate"},
	tasks.ActionSuspend:       {"user.lifecycle.suspend"},
	tasks.ActionUnsuspend:     {"user.lifecycle.unsuspend"},
	tasks.ActionUnlock:        {"user.account.unlock_by_admin"},
	tasks.ActionResetPassword: {"user.account.reset_password"},
	tasks.ActionResetMFA:      {"user.mfa.factor.reset_all"},
	tasks.ActionClearSessions: {"user.session.clear"},
	tasks.ActionUpdateGroups:  {"group.user_membership.add", "group.user_membership.remove"},
	tasks.ActionUpdateApps:    {"application.user_membership.add", "application.user_membership.remove"},
}

// EventTypes returns the hook event types that confirm the action; nil
// when Okta sends none through hooks.
func EventTypes(a tasks.Action) []string { return slices.Clone(eventTypes[a]) }

// HookEventTypes is every event type a hook registered by oktaq
// subscribes to, sorted.
func HookEventTypes() []string {
	var out []string
	for _, ts := range eventTypes {
		for _, t := range ts {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// EventHook is what `oktaq hooks list` shows of a hook; never its secret.
type EventHook struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	URL          string   `json:"url"`
	Status       string   `json:"status"`
	Verification string   `json:"verification"`
	Events       []string `json:"events"`
}

func hookOf(h *oktasdk.EventHook) EventHook {
	return EventHook{ID: h.GetId(), Name: h.Name, URL: h.Channel.Config.Uri, Status: h.GetStatus(),
		Verification: h.GetVerificationStatus(), Events: h.Events.Items}
}

// ErrNoEventHookScope: the connection does not enable okta.eventHooks.manage.
var ErrNoEventHookScope = errors.New("the connection does not enable " + ScopeEventHooks +
	": without it oktaq cannot register an event hook, and actions are not confirmed by Okta's events (result.confirmation stays not_applicable with OKTAQ_CONFIRMATIONS_OFF=true); grant the scope to the app in Okta and add it to OKTAQ_OKTA_SCOPES")

func (e *Executor) hookScope() error {
	if !slices.Contains(e.conn.Scopes, ScopeEventHooks) {
		return ErrNoEventHookScope
	}
	return nil
}

// RegisterEventHook creates a hook named name that sends the events of
// every action to url with the Authorization header secret, has Okta
// verify it (Okta calls url's GET with its challenge, which oktaq's API
// must answer), and activates it.
func (e *Executor) RegisterEventHook(ctx context.Context, name, url string, secret Secret) (EventHook, error) {
	if err := e.hookScope(); err != nil {
		return EventHook{}, err
	}
	ctx = withRecorder(ctx, &recorder{})
	key, typ, val := "Authorization", "HEADER", secret.Reveal()
	body := oktasdk.EventHook{Name: name,
		Events: oktasdk.EventSubscriptions{Type: "EVENT_TYPE", Items: HookEventTypes()},
		Channel: oktasdk.EventHookChannel{Type: "HTTP", Version: "1.0.0",
			Config: oktasdk.EventHookChannelConfig{Uri: url,
				AuthScheme: &oktasdk.EventHookChannelConfigAuthScheme{Key: &key, Type: &typ, Value: &val}}}}
	var hook *oktasdk.EventHook
	if _, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		h, r, err := e.api.EventHookAPI.CreateEventHook(ctx).EventHook(body).Execute()
		hook = h
		return r, err
	}); err != nil {
		return EventHook{}, fmt.Errorf("create the event hook: %w", err)
	}
	for _, step := range []struct {
		name string
		call func(ctx context.Context, id string) (*oktasdk.EventHook, *oktasdk.APIResponse, error)
	}{
		{"verify", func(ctx context.Context, id string) (*oktasdk.EventHook, *oktasdk.APIResponse, error) {
			return e.api.EventHookAPI.VerifyEventHook(ctx, id).Execute()
		}},
		{"activate", func(ctx context.Context, id string) (*oktasdk.EventHook, *oktasdk.APIResponse, error) {
			return e.api.EventHookAPI.ActivateEventHook(ctx, id).Execute()
		}},
	} {
		id := hook.GetId()
		if _, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
			h, r, err := step.call(ctx, id)
			if h != nil {
				hook = h
			}
			return r, err
		}); err != nil {
			return hookOf(hook), fmt.Errorf("%s the event hook %s (Okta calls GET %s with a challenge; the oktaq API must serve it with OKTAQ_EVENT_HOOK_SECRET): %w", step.name, id, url, err)
		}
	}
	return hookOf(hook), nil
}

// ListEventHooks returns the org's event hooks.
func (e *Executor) ListEventHooks(ctx context.Context) ([]EventHook, error) {
	if err := e.hookScope(); err != nil {
		return nil, err
	}
	ctx = withRecorder(ctx, &recorder{})
	var hooks []oktasdk.EventHook
	if _, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		h, r, err := e.api.EventHookAPI.ListEventHooks(ctx).Execute()
		hooks = h
		return r, err
	}); err != nil {
		return nil, fmt.Errorf("list event hooks: %w", err)
	}
	out := make([]EventHook, 0, len(hooks))
	for i := range hooks {
		out = append(out, hookOf(&hooks[i]))
	}
	return out, nil
}
