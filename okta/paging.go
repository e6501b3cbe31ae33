package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"
)

// maxPages bounds one list read. A list longer than this is refused rather
// than read in part: a decision taken on part of a list (no_op, not
// found) would be silently wrong.
const maxPages = 500

// listAll reads every page of a list whose items decode as T (only the
// fields T names: the SDK's models are strict about shapes, the raw body
// is read instead).
func listAll[T any](ctx context.Context, e *Executor, what string, fetch func(ctx context.Context, after string) (*oktasdk.APIResponse, error)) ([]T, error) {
	var out []T
	err := e.eachPage(ctx, what, fetch, func(body []byte) error {
		var page []T
		err := json.Unmarshal(body, &page)
		out = append(out, page...)
		return err
	})
	return out, err
}

// eachPage reads every page of a list: fetch asks for the page after the
// cursor ("" for the first), each reads its body. Okta sends rel="self"
// and rel="next" as separate Link headers (okta-recorded/user_list.json),
// so every Link header is read, never just the first.
func (e *Executor) eachPage(ctx context.Context, what string, fetch func(ctx context.Context, after string) (*oktasdk.APIResponse, error), each func(body []byte) error) error {
	after := ""
	seen := map[string]bool{}
	for range maxPages {
		c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) { return fetch(ctx, after) })
		if err != nil {
			return err
		}
		if err := each(c.body); err != nil {
			return &TransientError{Err: fmt.Errorf("unreadable %s: %w", what, err), Status: c.Status}
		}
		next, ok := nextLink(c.links)
		if !ok {
			return nil
		}
		cursor := next.Query().Get("after")
		if cursor == "" || seen[cursor] {
			return &TransientError{Err: fmt.Errorf("%s: Okta's next page link has no new after cursor", what), Status: c.Status}
		}
		seen[cursor], after = true, cursor
	}
	return &TransientError{Err: fmt.Errorf("%s: more than %d pages; not acting on part of the list", what, maxPages)}
}

// nextLink finds rel="next" among Link header values (RFC 8288), each of
// which may itself hold several comma-separated links.
func nextLink(values []string) (*url.URL, bool) {
	for _, v := range values {
		for _, l := range splitLinks(v) {
			target, params, ok := strings.Cut(l, ">")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if !strings.EqualFold(k, "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(val, `"`)) {
					if strings.EqualFold(rel, "next") {
						u, err := url.Parse(target[1:])
						return u, err == nil
					}
				}
			}
		}
	}
	return nil, false
}

// splitLinks splits one Link header value at the commas outside <...>.
func splitLinks(v string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range v {
		switch r {
		case '<':
			depth++
		case '>':
			depth = max(0, depth-1)
		case ',':
			if depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// candidates names at most a few near misses, and how many more there are.
func candidates(others []string) string {
	const shown = 5
	if len(others) <= shown {
		return strings.Join(others, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(others[:shown], ", "), len(others)-shown)
}
