package okta

import "testing"

// Link headers as Okta sends them (okta-recorded/user_list.json: self and
// next apart, self first) and as RFC 8288 also allows (one header, comma
// separated; commas inside the URL).
func TestNextLink(t *testing.T) {
	const self = `<https://x.okta.com/api/v1/users?limit=1&search=a%2Cb>; rel="self"`
	const next = `<https://x.okta.com/api/v1/users?after=00u2&limit=1&search=a,b>; rel="next"`
	cases := []struct {
		name   string
		values []string
		after  string
	}{
		{"two headers, self first", []string{self, next}, "00u2"},
		{"one header", []string{self + ", " + next}, "00u2"},
		{"next first", []string{next, self}, "00u2"},
		{"self only", []string{self}, ""},
		{"none", nil, ""},
		{"unquoted rel", []string{`<https://x/api/v1/groups?after=00g9>; rel=next`}, "00g9"},
	}
	for _, c := range cases {
		u, ok := nextLink(c.values)
		got := ""
		if ok {
			got = u.Query().Get("after")
		}
		if got != c.after {
			t.Errorf("%s: after %q, want %q", c.name, got, c.after)
		}
	}
}
