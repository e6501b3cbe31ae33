package oktasim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// page cuts ids after the `after` cursor to `limit` and sets Okta's Link header
// (rel="self" always, rel="next" when more remain).
func (c *call) page(ids []string, defLimit, maxLimit int, resp *response) ([]string, *response) {
	limit := defLimit
	if v := c.q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			r := validationFailed("limit", "limit: must be a positive integer")
			return nil, &r
		}
		limit = min(n, maxLimit)
	}
	start := 0
	if after := c.q.Get("after"); after != "" {
		start = len(ids)
		for i, id := range ids {
			if id == after {
				start = i + 1
				break
			}
		}
	}
	end := min(len(ids), start+limit)
	out := ids[start:end]

	self := url.Values{}
	for k, v := range c.q {
		self[k] = v
	}
	if c.q.Get("limit") == "" {
		self.Set("limit", strconv.Itoa(limit))
	}
	base := c.s.baseURL + c.r.URL.Path
	links := []string{fmt.Sprintf(`<%s?%s>; rel="self"`, base, self.Encode())}
	if end < len(ids) && len(out) > 0 {
		next := url.Values{}
		for k, v := range self {
			next[k] = v
		}
		next.Set("after", out[len(out)-1])
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="next"`, base, next.Encode()))
	}
	if resp.header == nil {
		resp.header = http.Header{}
	}
	resp.header["Link"] = links
	return out, nil
}
