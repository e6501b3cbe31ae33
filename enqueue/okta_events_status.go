package enqueue

import (
	"context"
	"encoding/json"

	"github.com/oktaq/oktaq/tasks"
)

// addConfirmation puts the settled confirmation of an action (confirmed
// or unconfirmed by Okta's events after the result was written) into its
// result. Without one the result's own (pending, not_applicable) stands.
func (c *Client) addConfirmation(ctx context.Context, info *Info) {
	if info.Result == nil || info.Result.Confirmation == nil {
		return
	}
	b, err := c.rc.Get(ctx, tasks.ConfirmationKey(info.ID)).Bytes()
	if err != nil {
		return // none yet, or Redis hiccup: the result's own state shows
	}
	var conf tasks.Confirmation
	if json.Unmarshal(b, &conf) == nil && conf.State != "" {
		info.Result.Confirmation = &conf
	}
}
